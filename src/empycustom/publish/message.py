"""A published message: the frame's identity and its merged meta, one compact JSON object.

`{"source": "cam1", "run": "3f2a...", "frame_num": 12, "pts": 400000000, "meta": {...}}`:
(source, run, frame_num) identifies a frame, so a consumer can drop duplicates.
"""

from __future__ import annotations

import orjson


def encode_message(source: bytes, run: bytes, frame_num: int, pts: int | None, meta: str) -> bytes:
    """`source` and `run` already JSON-encoded (done once per start); `meta` is JSON text."""
    pts_text = b"null" if pts is None else str(pts).encode()
    return b"".join(
        (b'{"source":', source, b',"run":', run, b',"frame_num":', str(frame_num).encode(),
         b',"pts":', pts_text, b',"meta":', meta.encode(), b"}")
    )  # fmt: skip


def json_string(text: str) -> bytes:
    return orjson.dumps(text)

"""The in_meta dictionary handed to custom libraries (reference "EMPyCustom Integration")."""

from __future__ import annotations

import time
from typing import Any

from empycustom.frames.layout import FrameLayout

CLOCK_TIME_NONE = 0xFFFFFFFFFFFFFFFF

_cached_second = -1
_cached_prefix = ""
_cached_zone = ""


def wall_clock_timestamp(now: float | None = None) -> str:
    """Wall-clock ISO 8601 time with milliseconds and UTC offset: 2020-05-13T12:18:47.323-0600."""
    global _cached_second, _cached_prefix, _cached_zone
    if now is None:
        now = time.time()
    milliseconds = round(now * 1000)
    second, fraction = divmod(milliseconds, 1000)
    if second != _cached_second:
        local = time.localtime(second)
        _cached_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", local)
        _cached_zone = time.strftime("%z", local)
        _cached_second = second
    return f"{_cached_prefix}.{fraction:03d}{_cached_zone}"


def build_in_meta(
    frame_num: int,
    pts: int,
    layout: FrameLayout,
    objects: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One frame's in_meta: `{"frame": [{frame_num, buf_pts, timestamp, ..., "object": [...]}]}`."""
    return {
        "frame": [
            {
                "frame_num": frame_num,
                "buf_pts": None if pts == CLOCK_TIME_NONE else pts,
                "timestamp": wall_clock_timestamp(),
                "source_frame_width": layout.width,
                "source_frame_height": layout.height,
                "format": layout.format,
                "width": layout.width,
                "height": layout.height,
                "planes": layout.planes(),
                "object": objects if objects is not None else [],
            }
        ]
    }

"""The frame's merged JSON carried on the buffer as a `GstCustomMeta` named "EmPyCustomMeta".

`Gst.CustomMeta.get_structure()` returns a copy in PyGObject, so reads and writes are done in C
(`empycustom._native`).
"""

from __future__ import annotations

from typing import Any

from empycustom import _native
from empycustom.gst.runtime import Gst
from empycustom.meta.outmeta import from_json

META_NAME = _native.CUSTOM_META_NAME  # "EmPyCustomMeta"


def ensure_registered() -> None:
    # The plugin loader and an in-process register() may both get here in one process.
    if Gst.meta_get_info(META_NAME) is None:
        Gst.Meta.register_custom(META_NAME, [], None, None)


def write_meta_json(buffer: Gst.Buffer, text: str | bytes | bytearray) -> None:
    """Attach (or replace) the merged JSON on a writable buffer; ValueError if it is not.
    `text` is a str, or bytes or a bytearray known to be valid UTF-8 (outmeta.meta_json's,
    outmeta.keep_text's)."""
    _native.write_meta_json(hash(buffer), text)


def read_meta_json(buffer: Gst.Buffer) -> str | None:
    """The merged JSON on a buffer, or None when no empycustom element processed it."""
    return _native.read_meta_json(hash(buffer))


def read_meta(buffer: Gst.Buffer) -> dict[str, Any] | None:
    """The merged meta of a buffer as a dict (for pad probes, appsink callbacks, elements)."""
    text = read_meta_json(buffer)
    return None if text is None else from_json(text)

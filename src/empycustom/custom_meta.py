"""The frame's merged JSON carried on the buffer as a `GstCustomMeta` named "EmPyCustomMeta".

`Gst.CustomMeta.get_structure()` returns a copy in PyGObject, so writes go through ctypes.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any

from empycustom._clib import G_TYPE_STRING, gst
from empycustom._gst import Gst

META_NAME = "EmPyCustomMeta"
_META_NAME_C = META_NAME.encode()
_FIELD_C = b"json"


def ensure_registered() -> None:
    # The plugin loader and an in-process register() may both get here in one process.
    if Gst.meta_get_info(META_NAME) is None:
        Gst.Meta.register_custom(META_NAME, [], None, None)


def write_meta_json(buffer: Gst.Buffer, text: str) -> None:
    """Attach (or replace) the merged JSON on a writable buffer."""
    pointer = hash(buffer)
    if not gst.gst_mini_object_is_writable(pointer):
        raise ValueError("cannot attach metadata to a buffer that is not writable")
    meta = gst.gst_buffer_get_custom_meta(pointer, _META_NAME_C) or gst.gst_buffer_add_custom_meta(
        pointer, _META_NAME_C
    )
    structure = gst.gst_custom_meta_get_structure(meta)
    gst.gst_structure_set(
        ctypes.c_void_p(structure),
        _FIELD_C,
        ctypes.c_size_t(G_TYPE_STRING),
        ctypes.c_char_p(text.encode("utf-8", "surrogatepass")),
        None,
    )


def read_meta_json(buffer: Gst.Buffer) -> str | None:
    """The merged JSON on a buffer, or None when no empycustom element processed it."""
    meta = gst.gst_buffer_get_custom_meta(hash(buffer), _META_NAME_C)
    if not meta:
        return None
    text = gst.gst_structure_get_string(gst.gst_custom_meta_get_structure(meta), _FIELD_C)
    return None if text is None else text.decode("utf-8", "replace")


def read_meta(buffer: Gst.Buffer) -> dict[str, Any] | None:
    """The merged meta of a buffer as a dict (for pad probes, appsink callbacks, elements)."""
    text = read_meta_json(buffer)
    return None if text is None else json.loads(text)

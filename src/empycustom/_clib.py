"""ctypes access to the few libgstreamer functions that have no introspected binding."""

from __future__ import annotations

import ctypes
from typing import Any

from empycustom._gst import GObject

gst = ctypes.CDLL("libgstreamer-1.0.so.0")

_signatures = {
    "gst_buffer_add_custom_meta": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
    "gst_buffer_get_custom_meta": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
    "gst_custom_meta_get_structure": (ctypes.c_void_p, [ctypes.c_void_p]),
    "gst_structure_get_string": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_char_p]),
    "gst_mini_object_is_writable": (ctypes.c_int, [ctypes.c_void_p]),
    "_gst_debug_category_new": (ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p]),
    "gst_debug_log_literal": (
        None,
        [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_char_p,
        ],
    ),  # fmt: skip
}


def declare(library: ctypes.CDLL, signatures: dict[str, tuple[Any, list[Any]]]) -> None:
    """Set the C signatures of functions of `library`: {name: (restype, argtypes)}."""
    for name, (restype, argtypes) in signatures.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes


declare(gst, _signatures)

# gst_structure_set is variadic: arguments are converted at each call.
gst.gst_structure_set.restype = None

G_TYPE_STRING = 16 << 2

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def gobject_pointer(obj: GObject.Object) -> int:
    """The C address of a GObject wrapped by PyGObject."""
    return _capsule_pointer(obj.__gpointer__, None)

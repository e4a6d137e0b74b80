"""ctypes access to the few libgstreamer functions that have no introspected binding."""

from __future__ import annotations

import ctypes

from empycustom.gst.runtime import GObject

gst = ctypes.CDLL("libgstreamer-1.0.so.0")

_signatures = {
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
    "gst_mini_object_ref": (ctypes.c_void_p, [ctypes.c_void_p]),
    "gst_mini_object_is_writable": (ctypes.c_int, [ctypes.c_void_p]),
    "gst_pad_push": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
    "gst_memory_new_wrapped": (
        ctypes.c_void_p,
        [
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_size_t,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ],
    ),  # fmt: skip
    "gst_buffer_append_memory": (None, [ctypes.c_void_p, ctypes.c_void_p]),
    "gst_element_class_add_metadata": (None, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
}


for _name, (_restype, _argtypes) in _signatures.items():
    getattr(gst, _name).restype = _restype
    getattr(gst, _name).argtypes = _argtypes

_gobject = ctypes.CDLL("libgobject-2.0.so.0")
_gobject.g_type_class_peek.restype = ctypes.c_void_p
_gobject.g_type_class_peek.argtypes = [ctypes.c_size_t]

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def gobject_pointer(obj: GObject.Object) -> int:
    """The C address of a GObject wrapped by PyGObject."""
    return _capsule_pointer(obj.__gpointer__, None)


def add_element_metadata(cls: type, key: str, value: str) -> None:
    """Add `key` to an element class's metadata (gst-inspect-1.0 lists every key under
    "Factory Details"); do it before the element is registered, which copies them."""
    klass = _gobject.g_type_class_peek(hash(cls.__gtype__))  # hash() of a GType: its value
    gst.gst_element_class_add_metadata(klass, key.encode(), value.encode())

"""A GStreamer debug category for Python code (gst-python logs everything under "python")."""

from __future__ import annotations

import ctypes
import sys
from functools import partial

from empycustom._native import debug_enabled
from empycustom.gst.clib import gobject_pointer, gst
from empycustom.gst.runtime import GObject, Gst

# Plain ints: looking a Gst enum value up costs more than the disabled-log check itself.
ERROR = int(Gst.DebugLevel.ERROR)
WARNING = int(Gst.DebugLevel.WARNING)
INFO = int(Gst.DebugLevel.INFO)
DEBUG = int(Gst.DebugLevel.DEBUG)
LOG = int(Gst.DebugLevel.LOG)


class _CategoryStruct(ctypes.Structure):
    _fields_ = [
        ("threshold", ctypes.c_int),
        ("color", ctypes.c_uint),
        ("name", ctypes.c_char_p),
        ("description", ctypes.c_char_p),
    ]


def _category(name: str, description: str) -> tuple[int, _CategoryStruct]:
    # An existing category of that name (gst-python's "python") is returned as it is.
    pointer = gst._gst_debug_category_new(name.encode(), 0, description.encode())
    return pointer, ctypes.cast(pointer, ctypes.POINTER(_CategoryStruct)).contents


class DebugCategory:
    """`GST_DEBUG=<name>:<level>` controls it like any C element's category.

    With `also`, a second category (gst-python's "python", where the reference's element
    logged) gets the messages its own threshold lets through and this one's does not.
    """

    def __init__(self, name: str, description: str, also: str | None = None) -> None:
        self._pointer, self._struct = _category(name, description)
        self._also_pointer, self._also_struct = (
            _category(also, "Python code using gst-python") if also else (None, self._struct)
        )
        # The check of every buffer, in C: a method reading the ctypes fields cost ~4x more.
        self.enabled = partial(debug_enabled, self._pointer, self._also_pointer or 0)

    def enabled(self, level: int) -> bool:  # type: ignore[no-redef]  # replaced per instance
        """Whether a message at `level` is logged (in this category or in `also`)."""
        return debug_enabled(self._pointer, self._also_pointer or 0, level)

    def log(
        self, level: int, obj: GObject.Object | None, message: str, stacklevel: int = 1
    ) -> None:
        """Log `message`, attributed to the caller `stacklevel` frames up (as `logging` does)."""
        if self._struct.threshold >= level:
            pointer = self._pointer
        elif self._also_struct.threshold >= level:
            pointer = self._also_pointer
        else:
            return
        caller = sys._getframe(stacklevel)
        gst.gst_debug_log_literal(
            pointer,
            int(level),
            caller.f_code.co_filename.encode(),
            caller.f_code.co_name.encode(),
            caller.f_lineno,
            gobject_pointer(obj) if obj is not None else None,
            message.encode("utf-8", "replace"),
        )

    def error(self, obj: GObject.Object | None, message: str) -> None:
        self.log(ERROR, obj, message, stacklevel=2)

    def warning(self, obj: GObject.Object | None, message: str) -> None:
        self.log(WARNING, obj, message, stacklevel=2)

    def info(self, obj: GObject.Object | None, message: str) -> None:
        self.log(INFO, obj, message, stacklevel=2)

    def debug(self, obj: GObject.Object | None, message: str) -> None:
        self.log(DEBUG, obj, message, stacklevel=2)

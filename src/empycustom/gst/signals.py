"""Emitting a signal so that a handler that raises is reported, not just printed.

PyGObject catches an exception raised in a Python handler of a signal, prints it through
`sys.excepthook` and lets the emission return normally: the stream goes on, but nobody is told.
`emit_text_reporting_errors` captures those exceptions for the emitting thread only (other
exceptions still reach the hook that was installed before) and returns them.
"""

from __future__ import annotations

import sys
import traceback
from types import TracebackType
from typing import Any

from empycustom import _native
from empycustom.gst.runtime import GObject

_previous_hook: Any = None  # the hook found when ours was installed


def _capturing_hook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if _native.capturing_errors():  # inside emit_text_capturing() in this thread
        _native.capture_error("".join(traceback.format_exception(exc_type, exc, tb)))
    else:
        _previous_hook(exc_type, exc, tb)


def add_text_signal(cls: type[GObject.Object], name: str) -> int:
    """Give `cls` a signal `name` carrying one string; returns its signal id.

    Unlike one declared in `__gsignals__`, it has no class handler, so an emission does not
    look up a `do_<name>` method first (about 0.8 us less per emission). Applications connect
    to it and emit it as to any other signal.
    """
    return _native.add_text_signal(hash(cls.__gtype__), name)  # hash() of a GType: its value


def emit_text_reporting_errors(
    address: int, signal_id: int, text: str | bytes | bytearray
) -> list[str] | None:
    """Emit the text signal `signal_id` (from add_text_signal) of the GObject at `address`.

    Returns the tracebacks of the handlers that raised, or None when none did (or none is
    connected). The signal is emitted by its id from C, the text lent
    to the handlers: PyGObject's `emit()` looks the signal up by name and copies the text at
    every call; the exceptions are captured in C for the emitting thread (other exceptions
    still reach the hook that was installed before).
    """
    global _previous_hook
    if _previous_hook is None:
        # Installed once: an application hook set later replaces ours (PyGObject then calls
        # it, and the handler's exception is not reported here) or chains to it.
        _previous_hook = sys.excepthook
        sys.excepthook = _capturing_hook
    try:
        return _native.emit_text_capturing(address, signal_id, text)
    except Exception:  # a PyGObject that passes handler exceptions on to the emitter
        return [traceback.format_exc()]

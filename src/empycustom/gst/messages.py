"""Posting errors and warnings on the bus the way C elements do (GST_ELEMENT_ERROR/WARNING)."""

from __future__ import annotations

import sys

from empycustom.gst.debug import ERROR, WARNING, DebugCategory
from empycustom.gst.runtime import GLib, Gst


def report_error(
    element: Gst.Element,
    category: DebugCategory,
    text: str,
    debug: str = "",
    domain: str = "library",
) -> None:
    """Log `text` in the element's debug category and post it as an error message."""
    category.log(ERROR, element, text, stacklevel=2)
    _post(element, Gst.MessageType.ERROR, text, debug, domain)


def report_warning(
    element: Gst.Element,
    category: DebugCategory,
    text: str,
    debug: str = "",
    domain: str = "library",
) -> None:
    """Log `text` in the element's debug category and post it as a warning message."""
    category.log(WARNING, element, text, stacklevel=2)
    _post(element, Gst.MessageType.WARNING, text, debug, domain)


def post_error(element: Gst.Element, text: str, debug: str = "", domain: str = "library") -> None:
    _post(element, Gst.MessageType.ERROR, text, debug, domain)


def post_warning(element: Gst.Element, text: str, debug: str = "", domain: str = "library") -> None:
    _post(element, Gst.MessageType.WARNING, text, debug, domain)


_DOMAINS = {
    "library": (Gst.library_error_quark, Gst.LibraryError.FAILED),
    "settings": (Gst.library_error_quark, Gst.LibraryError.SETTINGS),
    "init": (Gst.library_error_quark, Gst.LibraryError.INIT),
    "stream": (Gst.stream_error_quark, Gst.StreamError.FAILED),
    "format": (Gst.stream_error_quark, Gst.StreamError.FORMAT),
    "resource": (Gst.resource_error_quark, Gst.ResourceError.NOT_FOUND),
}


def _post(element: Gst.Element, kind: Gst.MessageType, text: str, debug: str, domain: str) -> None:
    quark, code = _DOMAINS[domain]
    caller = sys._getframe(2).f_code
    element.message_full(
        kind, quark(), int(code), text, debug or None, caller.co_filename, caller.co_name, 0
    )


def error_text(message: Gst.Message) -> tuple[str, str]:
    """(text, debug) of an error or warning message, for applications and tests."""
    if message.type == Gst.MessageType.ERROR:
        error, debug = message.parse_error()
    else:
        error, debug = message.parse_warning()
    assert isinstance(error, GLib.Error)
    return error.message, debug or ""

"""A new-meta handler that raises does not break the stream, and the exception is reported."""

from __future__ import annotations

import sys

import pytest

from empycustom import _native
from empycustom.gst.clib import gobject_pointer
from empycustom.gst.runtime import GObject
from empycustom.gst.signals import add_text_signal, emit_text_reporting_errors


class Emitter(GObject.Object):
    __gtype_name__ = "EmPyCustomTestPingEmitter"


PING = add_text_signal(Emitter, "ping")


def emit_reporting_errors(emitter: Emitter, text: str) -> list[str]:
    return emit_text_reporting_errors(gobject_pointer(emitter), PING, text) or []


def test_handler_exceptions_are_returned():
    emitter = Emitter()
    heard: list[str] = []
    emitter.connect("ping", lambda _o, text: heard.append(text))

    def broken(_o: GObject.Object, text: str) -> None:
        raise ValueError(f"cannot handle {text}")

    assert emit_reporting_errors(emitter, "a") == []
    emitter.connect("ping", broken)
    failures = emit_reporting_errors(emitter, "b")
    assert len(failures) == 1
    assert "Traceback" in failures[0] and "ValueError: cannot handle b" in failures[0]
    assert heard == ["a", "b"]  # the other handler still ran


def test_text_is_lent_to_handlers_and_survives_them():
    emitter = Emitter()
    heard: list[str] = []
    emitter.connect("ping", lambda _o, text: heard.append(text))
    text = "".join(["é", "x" * 100_000])  # not interned, freed if a handler could free it
    assert emit_reporting_errors(emitter, text) == []
    del text
    assert heard == ["é" + "x" * 100_000]


def test_utf8_bytes_reach_handlers_as_text():
    # What the element emits: orjson's bytes, lent as they are (no str made of them first).
    emitter = Emitter()
    heard: list[str] = []
    emitter.connect("ping", lambda _o, text: heard.append(text))
    assert emit_text_reporting_errors(gobject_pointer(emitter), PING, '{"é":1}'.encode()) is None
    assert heard == ['{"é":1}']


def test_a_lent_bytearray_reaches_handlers_and_cannot_be_resized_by_them():
    # What the element emits for a large merged JSON: last-meta's kept bytearray.
    emitter = Emitter()
    kept = bytearray(b'{"pad": "' + b"x" * 200_000 + b'"}')
    heard: list[str] = []

    def refills(_o: GObject.Object, text: str) -> None:
        heard.append(text)
        _native.refill(kept, b"{}")  # would move the memory the other handlers are lent

    emitter.connect("ping", refills)
    emitter.connect("ping", lambda _o, text: heard.append(text))
    failures = emit_text_reporting_errors(gobject_pointer(emitter), PING, kept) or []
    assert len(failures) == 1 and "BufferError" in failures[0]
    assert heard == [kept.decode()] * 2
    _native.refill(kept, b"{}")  # resizable again once the emission returned
    assert kept == b"{}"


def test_emit_text_refuses_other_signals_and_values():
    emitter = Emitter()
    address = gobject_pointer(emitter)
    notify = GObject.signal_lookup("notify", GObject.Object)
    with pytest.raises(ValueError, match="not a text signal"):
        _native.emit_text(address, notify, "x")
    with pytest.raises(ValueError, match="not a text signal"):
        _native.emit_text(address, 0, "x")
    with pytest.raises(TypeError, match="str or UTF-8 bytes"):
        _native.emit_text(address, PING, 42)
    with pytest.raises(ValueError, match="NULL"):
        _native.emit_text(0, PING, "x")


def test_other_exceptions_still_reach_the_previous_hook(capsys):
    emit_reporting_errors(Emitter(), "installs the hook")
    try:
        raise KeyError("elsewhere")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    assert "KeyError: 'elsewhere'" in capsys.readouterr().err


def test_raising_handler_does_not_break_the_stream(write_library, pipeline):
    library = write_library("def process_ip(b, m, o, e):\n    return [{'n': 1}]\n")

    def configure(p) -> None:
        def broken(_element, text: str) -> None:
            raise RuntimeError("application bug")

        p.get_by_name("e").connect("new-meta", broken)

    result = pipeline(
        "videotestsrc num-buffers=20 ! video/x-raw,format=RGBA,width=16,height=16 ! "
        f"empycustom name=e in-place=true custom-lib={library} ! appsink name=sink",
        configure=configure,
    )
    assert result.eos and result.errors == []
    assert len(result.frames) == 20 and all(frame.meta for frame in result.frames)
    assert len(result.signals) == 20  # the test's own handler kept hearing every frame
    assert len(result.warnings) == 1  # once; every time in the debug log
    text, debug = result.warnings[0]
    assert "a handler of the new-meta signal raised an exception; the stream goes on" in text
    assert "RuntimeError: application bug" in debug and "Traceback" in debug


def test_an_emission_inside_a_handler_keeps_its_own_failures():
    outer, inner = Emitter(), Emitter()
    inner_failures: list[list[str]] = []

    def emits_again(_o: GObject.Object, text: str) -> None:
        inner_failures.append(emit_reporting_errors(inner, "inner"))
        raise ValueError("outer handler")

    def broken(_o: GObject.Object, text: str) -> None:
        raise KeyError("inner handler")

    outer.connect("ping", emits_again)
    inner.connect("ping", broken)
    failures = emit_reporting_errors(outer, "outer")
    assert len(failures) == 1 and "ValueError: outer handler" in failures[0]
    assert len(inner_failures) == 1 and len(inner_failures[0]) == 1
    assert "KeyError: 'inner handler'" in inner_failures[0][0]
    assert not _native.capturing_errors()
    with pytest.raises(RuntimeError, match="no emission"):
        _native.capture_error("outside an emission")


def test_without_a_handler_nothing_is_emitted():
    emitter = Emitter()
    assert emit_text_reporting_errors(gobject_pointer(emitter), PING, "x") is None
    with pytest.raises(ValueError, match="not a text signal"):
        _native.emit_text_capturing(gobject_pointer(emitter), 0, "x")

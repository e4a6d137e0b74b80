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
    return emit_text_reporting_errors(gobject_pointer(emitter), PING, text)


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


def test_emit_text_refuses_other_signals_and_values():
    emitter = Emitter()
    address = gobject_pointer(emitter)
    notify = GObject.signal_lookup("notify", GObject.Object)
    with pytest.raises(ValueError, match="not a text signal"):
        _native.emit_text(address, notify, "x")
    with pytest.raises(ValueError, match="not a text signal"):
        _native.emit_text(address, 0, "x")
    with pytest.raises(TypeError, match="str"):
        _native.emit_text(address, PING, b"x")
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

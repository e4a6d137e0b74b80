"""Bad input gets a clear message naming the property or function, and the pipeline ends."""

from __future__ import annotations

import pytest

from empycustom.gst.runtime import Gst

SOURCE = "videotestsrc num-buffers=4 ! video/x-raw,format=RGBA,width=32,height=24"


def run_with(pipeline, lib, extra="", sink="appsink name=sink"):
    return pipeline(f"{SOURCE} ! empycustom name=e custom-lib={lib} {extra} ! {sink}", timeout=20)


@pytest.mark.parametrize(
    "source, expected, traceback_text",
    [
        (None, "does not exist or is not a file", None),
        ("def process_ip(:\n", "failed to import: SyntaxError", "SyntaxError"),
        ("import no_such_module_xyz\n", "failed to import: ModuleNotFoundError",
         "no_such_module_xyz"),
        ("raise SystemExit(3)\n", "failed to import: SystemExit", "SystemExit"),
        ("def process(b, m, o, e):\n    return b, ''\n",
         "has no function process_ip(), which in-place=true needs", None),
        ("def start(options):\n    raise RuntimeError('model missing')\n"
         "def process_ip(b, m, o, e):\n    return ''\n",
         "start() of custom-lib", "model missing"),
    ],
)  # fmt: skip
def test_library_problems_fail_the_start(pipeline, write_library, tmp_path, source, expected,
                                         traceback_text):  # fmt: skip
    lib = write_library(source) if source is not None else str(tmp_path / "missing.py")
    result = run_with(pipeline, lib, "in-place=true")
    assert not result.eos
    text, debug = result.errors[0]
    assert expected in text
    assert lib in text
    if traceback_text:
        assert "Traceback" in debug and traceback_text in debug
    assert result.frames == []


def test_missing_process_for_not_in_place(pipeline, write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return ''\n")
    result = run_with(pipeline, lib)
    assert "has no function process(), which in-place=false needs" in result.error_texts


def test_custom_lib_not_set(pipeline):
    result = pipeline(f"{SOURCE} ! empycustom ! fakesink")
    assert "property 'custom-lib' is not set" in result.error_texts


def test_non_json_options_fail_the_start(pipeline, write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return ''\n")
    result = run_with(pipeline, lib, "in-place=true options=not-json")
    assert not result.eos
    assert "property 'options' must be a JSON object" in result.error_texts


RAISING_LIBRARY = """
def process_ip(io_buffer, in_meta, options, events):
    if in_meta["frame"][0]["frame_num"] == 1:
        raise ValueError("bad frame")
    return [{"ok": in_meta["frame"][0]["frame_num"]}]
"""


def test_exception_with_on_error_error_stops_the_stream(pipeline, write_library):
    lib = write_library(RAISING_LIBRARY)
    result = run_with(pipeline, lib, "in-place=true")
    assert not result.eos
    text, debug = result.errors[0]
    assert "process_ip() of custom-lib" in text and "ValueError: bad frame" in text
    assert "Traceback" in debug and 'raise ValueError("bad frame")' in debug
    assert len(result.frames) == 1


def test_exception_with_on_error_warn_passes_the_frame(pipeline, write_library):
    lib = write_library(RAISING_LIBRARY)
    result = run_with(pipeline, lib, "in-place=true on-error=warn")
    assert result.eos, result.error_texts
    assert len(result.frames) == 4
    assert result.frames[1].meta is None
    assert [w for w in result.warnings if "ValueError: bad frame" in w[0]]
    assert "Traceback" in result.warnings[0][1]


def test_exception_with_on_error_drop_drops_the_frame(pipeline, write_library):
    lib = write_library(RAISING_LIBRARY)
    result = run_with(pipeline, lib, "in-place=true on-error=drop")
    assert result.eos, result.error_texts
    assert [frame.meta["frame"][0]["frame_num"] for frame in result.frames] == [0, 2, 3]
    assert "frame dropped (on-error=drop)" in result.warning_texts


@pytest.mark.parametrize(
    "returned, expected",
    [
        ("'[{not json'", "neither JSON nor a Python literal"),
        ("42", "returned out_meta of type int"),
    ],
)
def test_unparsable_out_meta_is_an_error(pipeline, write_library, returned, expected):
    lib = write_library(f"def process_ip(b, m, o, e):\n    return {returned}\n")
    result = run_with(pipeline, lib, "in-place=true")
    assert not result.eos
    assert expected in result.error_texts and "process_ip()" in result.error_texts


@pytest.mark.parametrize(
    "returned, expected",
    [
        ("''", "process() returned str; expected a tuple (out_buffer, out_meta)"),
        ("(np.zeros(5, np.uint8), '')", "expected uint8 (24, 32, 4) for RGBA 32x24"),
        ("([1, 2], '')", "returned a list of 2 [a int, a int] as out_buffer"),
    ],
)
def test_wrong_process_return_is_an_error(pipeline, write_library, returned, expected):
    lib = write_library(f"import numpy as np\ndef process(b, m, o, e):\n    return {returned}\n")
    result = run_with(pipeline, lib)
    assert not result.eos
    assert expected in result.error_texts


def test_non_json_events_while_playing_warn_and_continue(pipeline, write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return [e]\n")

    def bad_then_good(pipeline_: Gst.Pipeline, frames: int) -> None:
        element = pipeline_.get_by_name("e")
        if frames == 1:
            element.set_property("events", "{broken")
        elif frames == 2:
            element.set_property("events", '{"fine": true}')

    result = pipeline(
        f"{SOURCE} ! empycustom name=e custom-lib={lib} in-place=true ! "
        "appsink name=sink max-buffers=1",
        on_buffer=bad_then_good,
    )
    assert result.eos, result.error_texts
    assert "property 'events' must be a JSON object" in result.warning_texts
    assert {"fine": True} in [frame.meta["frame"][0].get("emcustom") for frame in result.frames]


def test_invalid_on_error_value_is_refused(write_library):
    element = Gst.ElementFactory.make("empycustom")
    with pytest.raises(TypeError, match="could not convert 'explode'"):
        element.set_property("on-error", "explode")
    assert element.get_property("on-error").value_nick == "error"


def test_exception_in_stop_is_a_warning(pipeline, write_library):
    lib = write_library(
        "def stop(options):\n    raise KeyError('cleanup')\n"
        "def process_ip(b, m, o, e):\n    return ''\n"
    )
    result = run_with(pipeline, lib, "in-place=true")
    assert result.eos
    assert "stop() of custom-lib" in result.warning_texts and "cleanup" in result.warning_texts

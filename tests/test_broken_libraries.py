"""A corpus of broken custom libraries, each run in real pipelines under every on-error policy.

Documented behaviour (README "Reliability"):
- a library that cannot be loaded or started is a configuration error: an error message under
  every policy, no frame passes;
- a failure while processing a frame follows on-error: "error" stops the stream with an error
  (the frames before it passed), "warn" passes the frame unchanged with a warning, "drop" drops
  it with a warning;
- a failing stop() is a warning; the frames have all passed.
Never a crash, a hang or an exception escaping into GStreamer.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from empycustom.gst.runtime import Gst

POLICIES = ("error", "warn", "drop")
FRAMES = 10
CAPS = "video/x-raw,format=RGBA,width=16,height=16"
WORKING_PROCESS_IP = """
def process_ip(io_buffer, in_meta, options, events):
    return [{"ok": True}]
"""

LOAD_FAILURES = {
    "syntax error": ("def process_ip(:\n", "SyntaxError"),
    "import error": ("import empycustom_no_such_module\n" + WORKING_PROCESS_IP, "No module named"),
    "sys.exit at import": ("import sys\nsys.exit(3)\n", "failed to import: SystemExit: 3"),
    "no process_ip": ("def process(b, m, o, e):\n    return b, []\n", "has no function process_ip"),
    "process_ip not a function": ("process_ip = 42\n", "process_ip is not a function"),
    "process_ip takes one argument": (
        "def process_ip(buffer):\n    return []\n",
        "process_ip(buffer) cannot be called as process_ip(io_buffer, in_meta, options, events)",
    ),
    "start takes no argument": (
        "def start():\n    pass\n" + WORKING_PROCESS_IP,
        "start() cannot be called as start(options)",
    ),
    "stop takes two arguments": (
        "def stop(options, extra):\n    pass\n" + WORKING_PROCESS_IP,
        "stop(options, extra) cannot be called as stop(options)",
    ),
    "start raises": (
        "def start(options):\n    raise RuntimeError('no model')\n" + WORKING_PROCESS_IP,
        "start() of custom-lib '{path}' raised RuntimeError: no model",
    ),
    "start calls sys.exit": (
        "import sys\ndef start(options):\n    sys.exit(1)\n" + WORKING_PROCESS_IP,
        "start() of custom-lib '{path}' raised SystemExit: 1",
    ),
}

# process_ip() fails on odd frames with this body, and works on even ones.
FRAME_FAILURES = {
    "raises": ("raise ValueError('bad frame')", "process_ip() of custom-lib '{path}' raised "
               "ValueError: bad frame"),
    "calls sys.exit": ("sys.exit(2)", "raised SystemExit: 2"),
    "returns an int": ("return 42", "returned out_meta of type int"),
    "returns an object": ("return object()", "returned out_meta of type object"),
    "returns a complex number": ("return [{'value': 1j}]",
                                 "process_ip() returned out_meta that holds a value JSON cannot"),
    "returns a tuple key": ("return [{(1, 2): 'x'}]",
                            "process_ip() returned out_meta that holds a value JSON cannot"),
    "returns a circular list": ("loop = []; loop.append(loop); return loop",
                                "process_ip() returned out_meta that holds a value JSON cannot"),
    "returns broken text": ("return '{not json'", "neither JSON nor a Python literal"),
    "returns bytes that are not UTF-8": ("return b'\\xff\\xfe['", "neither JSON nor a Python"),
}  # fmt: skip

FAIL_ON_ODD = """
import sys

def process_ip(io_buffer, in_meta, options, events):
    if in_meta["frame"][0]["frame_num"] % 2:
        {failure}
    return [{{"ok": True}}]
"""


def run(pipeline, library: str, policy: str, *, in_place: bool = True, options: str = ""):
    description = (
        f"videotestsrc num-buffers={FRAMES} ! {CAPS} ! empycustom name=e custom-lib={library} "
        f"in-place={'true' if in_place else 'false'} on-error={policy} ! appsink name=sink"
    )

    def configure(p: Gst.Pipeline) -> None:
        if options:
            p.get_by_name("e").set_property("options", options)

    return pipeline(description, configure=configure, timeout=30)


def reference_frames(pipeline) -> list[bytes]:
    result = pipeline(f"videotestsrc num-buffers={FRAMES} ! {CAPS} ! appsink name=sink")
    return [frame.data for frame in result.frames]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("case", LOAD_FAILURES)
def test_library_that_cannot_start_is_an_error_under_every_policy(
    write_library, pipeline, case, policy
):
    source, message = LOAD_FAILURES[case]
    library = write_library(source)
    result = run(pipeline, library, policy)
    assert not result.eos
    assert result.frames == []
    assert len(result.errors) >= 1
    text, debug = result.errors[0]
    assert message.format(path=library) in text
    assert library in text
    if case not in ("no process_ip", "process_ip not a function") and "cannot be called" not in (
        message
    ):
        assert "Traceback" in debug


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("case", FRAME_FAILURES)
def test_frame_failures_follow_the_policy(write_library, pipeline, case, policy):
    failure, message = FRAME_FAILURES[case]
    library = write_library(FAIL_ON_ODD.format(failure=failure))
    message = message.format(path=library)
    result = run(pipeline, library, policy)
    numbers = [f.meta["frame"][0]["frame_num"] if f.meta else None for f in result.frames]

    if policy == "error":
        assert not result.eos
        assert numbers == [0]  # the frame before the failure passed
        assert message in result.errors[0][0]
        assert "Traceback" in result.errors[0][1]
        return
    assert result.eos, result.error_texts
    assert len(result.warnings) == FRAMES // 2
    for text, debug in result.warnings:
        assert message in text and "Traceback" in debug
    if policy == "warn":
        assert numbers == [0, None, 2, None, 4, None, 6, None, 8, None]  # odd ones unchanged
        assert all("frame passed unchanged (on-error=warn)" in t for t, _ in result.warnings)
        assert [f.data for f in result.frames] == reference_frames(pipeline)
    else:
        assert numbers == [0, 2, 4, 6, 8]
        assert all("frame dropped (on-error=drop)" in t for t, _ in result.warnings)


PROCESS_FAILURES = {
    "returns no tuple": ("return [{'x': 1}]", "process() returned list; expected a tuple"),
    "returns a wrong frame": ("return 'frame', []", "process() returned a str as out_buffer"),
    "raises": ("raise KeyError('boom')", "process() of custom-lib '{path}' raised KeyError"),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("case", PROCESS_FAILURES)
def test_not_in_place_failures_follow_the_policy(write_library, pipeline, case, policy):
    failure, message = PROCESS_FAILURES[case]
    library = write_library(
        f"""
def process(in_buffer, in_meta, options, events):
    if in_meta["frame"][0]["frame_num"] % 2:
        {failure}
    return in_buffer, [{{"ok": True}}]
"""
    )
    result = run(pipeline, library, policy, in_place=False)
    numbers = [f.meta["frame"][0]["frame_num"] if f.meta else None for f in result.frames]
    if policy == "error":
        assert numbers == [0] and message.format(path=library) in result.errors[0][0]
        return
    assert result.eos, result.error_texts
    assert all(message.format(path=library) in text for text, _ in result.warnings)
    assert len(result.warnings) == FRAMES // 2
    if policy == "warn":
        assert numbers == [0, None, 2, None, 4, None, 6, None, 8, None]
        assert [f.data for f in result.frames] == reference_frames(pipeline)
    else:
        assert numbers == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("body", ["raise OSError('device busy')", "import sys; sys.exit(5)"])
def test_failing_stop_is_a_warning(write_library, pipeline, policy, body):
    library = write_library(f"def stop(options):\n    {body}\n" + WORKING_PROCESS_IP)
    result = run(pipeline, library, policy)
    assert result.eos and result.errors == []
    assert len(result.frames) == FRAMES
    assert len(result.warnings) == 1
    text, debug = result.warnings[0]
    assert f"stop() of custom-lib '{library}' raised" in text and "Traceback" in debug


SLOW_START = """
import os
import time

def start(options):
    # Minutes, unless the test lets it go.
    deadline = time.monotonic() + 600
    while not os.path.exists(options["release"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(options["log"], "a") as log:
        log.write("start\\n")
    if options.get("fail"):
        raise RuntimeError("model server unreachable")

def stop(options):
    with open(options["log"], "a") as log:
        log.write("stop\\n")

def process_ip(io_buffer, in_meta, options, events):
    return [{"ok": True}]
"""


def slow_start_pipeline(write_library, tmp_path, policy="error", **extra):
    library = write_library(SLOW_START)
    release, log = tmp_path / "release", tmp_path / "calls.log"
    options = json.dumps({"release": str(release), "log": str(log), **extra})
    p = Gst.parse_launch(
        f"videotestsrc num-buffers={FRAMES} ! {CAPS} ! empycustom name=e in-place=true "
        f"on-error={policy} custom-lib={library} ! appsink name=sink"
    )
    p.get_by_name("e").set_property("options", options)
    return p, release, log


def wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@pytest.mark.parametrize("policy", POLICIES)
def test_slow_start_does_not_block_a_state_change_to_null(write_library, tmp_path, policy):
    p, release, log = slow_start_pipeline(write_library, tmp_path, policy)
    began = time.monotonic()
    assert p.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.ASYNC
    assert time.monotonic() - began < 3  # waited START_WAIT_S (1 s), not for start()
    time.sleep(0.3)  # the first buffer now waits for start()
    began = time.monotonic()
    assert p.set_state(Gst.State.NULL) == Gst.StateChangeReturn.SUCCESS
    assert time.monotonic() - began < 1
    assert not log.exists()
    # When start() finally returns, stop() follows it: the calls stay paired.
    release.touch()
    assert wait_for(lambda: log.exists() and log.read_text() == "start\nstop\n")
    assert p.get_bus().pop_filtered(Gst.MessageType.ERROR) is None


def test_slow_start_then_frames_flow(write_library, tmp_path, pipeline):
    library = write_library(SLOW_START)
    release, log = tmp_path / "release", tmp_path / "calls.log"
    options = json.dumps({"release": str(release), "log": str(log)})

    def configure(p: Gst.Pipeline) -> None:
        p.get_by_name("e").set_property("options", options)
        threading.Timer(1.5, release.touch).start()  # start() returns after 1.5 s

    result = pipeline(
        f"videotestsrc num-buffers={FRAMES} ! {CAPS} ! "
        f"empycustom name=e in-place=true custom-lib={library} ! appsink name=sink",
        configure=configure,
    )
    assert result.eos and result.errors == [] and result.warnings == []
    assert len(result.frames) == FRAMES
    assert log.read_text() == "start\nstop\n"


@pytest.mark.parametrize("policy", POLICIES)
def test_slow_start_that_fails_is_an_error(write_library, tmp_path, policy):
    p, release, log = slow_start_pipeline(write_library, tmp_path, policy, fail=True)
    assert p.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.ASYNC
    release.touch()
    message = p.get_bus().timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.ERROR)
    assert message is not None
    error, debug = message.parse_error()
    assert "raised RuntimeError: model server unreachable" in error.message
    assert "Traceback" in debug
    assert p.set_state(Gst.State.NULL) == Gst.StateChangeReturn.SUCCESS
    assert log.read_text() == "start\n"  # start() failed: no stop()


def test_sys_exit_in_gst_launch_does_not_end_the_process(write_library, gst_launch):
    library = write_library(FAIL_ON_ODD.format(failure="sys.exit(7)"))
    done = gst_launch(
        [
            "videotestsrc", f"num-buffers={FRAMES}", "!", CAPS, "!", "empycustom",
            "in-place=true", f"custom-lib={library}", "on-error=warn", "!", "fakesink",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Got EOS" in done.stdout
    assert done.stdout.count("raised SystemExit: 7; frame passed unchanged") == FRAMES // 2


def test_sys_exit_at_import_in_gst_launch_is_an_error(write_library, gst_launch):
    library = write_library("import sys\nsys.exit(3)\n")
    done = gst_launch(
        ["videotestsrc", "num-buffers=3", "!", CAPS, "!", "empycustom", "in-place=true",
         f"custom-lib={library}", "!", "fakesink"]
    )  # fmt: skip
    assert done.returncode not in (0, 3)  # gst-launch failed to start, not exit(3)
    assert "failed to import: SystemExit: 3" in done.stderr + done.stdout

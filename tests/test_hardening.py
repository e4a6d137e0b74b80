"""Hostile-testing findings (issue 14, items 1-9), each kept fixed by a test.

BaseException from a library, unloadable custom-lib files, oversized output buffers, stale
code after a reload, relative paths, out_meta JSON cannot hold.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from pipeline import gst_environment

from empycustom.cli.main import main
from empycustom.gst.messages import error_text
from empycustom.gst.runtime import GLib, Gst
from empycustom.library.loader import load_library, module_name_for
from empycustom.library.reload import load_new_version

CAPS = "video/x-raw,format=RGBA,width=32,height=24"
FRAME_BYTES = 32 * 24 * 4
SOURCE = f"videotestsrc num-buffers=3 pattern=ball ! {CAPS}"


def expected_frames(pipeline) -> list[bytes]:
    """What the source sends: the frames an element that passes them unchanged lets through."""
    result = pipeline(f"{SOURCE} ! appsink name=sink")
    assert result.eos
    return [frame.data for frame in result.frames]


# 1. BaseException subclasses follow on-error

BASE_EXCEPTIONS = {
    "KeyboardInterrupt": "raise KeyboardInterrupt('stop it')",
    "GeneratorExit": "raise GeneratorExit('closing')",
    "own BaseException": "class Abort(BaseException):\n        pass\n    raise Abort('abort')",
}
RAISED_NAMES = {"KeyboardInterrupt": "KeyboardInterrupt", "GeneratorExit": "GeneratorExit",
                "own BaseException": "Abort"}  # fmt: skip


def base_exception_library(write_library, case: str, in_place: bool) -> str:
    if in_place:
        header = "def process_ip(io_buffer, in_meta, options, events):"
    else:
        header = "def process(in_buffer, in_meta, options, events):"
    return write_library(f"{header}\n    {BASE_EXCEPTIONS[case]}\n")


@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("case", BASE_EXCEPTIONS)
def test_base_exception_is_an_error(pipeline, write_library, case, in_place):
    lib = base_exception_library(write_library, case, in_place)
    result = pipeline(
        f"{SOURCE} ! empycustom name=e custom-lib={lib} in-place={str(in_place).lower()} ! "
        "appsink name=sink",
        timeout=20,
    )
    assert not result.eos
    text, debug = result.errors[0]
    function = "process_ip" if in_place else "process"
    assert f"{function}() of custom-lib '{lib}' raised {RAISED_NAMES[case]}" in text
    assert "Traceback" in debug
    assert result.frames == []


@pytest.mark.parametrize("case", BASE_EXCEPTIONS)
def test_base_exception_with_warn_passes_the_input_frame(pipeline, write_library, case):
    lib = base_exception_library(write_library, case, in_place=False)
    result = pipeline(
        f"{SOURCE} ! empycustom name=e custom-lib={lib} on-error=warn ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert len(result.warnings) == 3 and RAISED_NAMES[case] in result.warnings[0][0]
    # The output buffers the library never wrote are not pushed: the input frames are.
    assert [frame.data for frame in result.frames] == expected_frames(pipeline)


@pytest.mark.parametrize("case", BASE_EXCEPTIONS)
def test_check_reports_base_exceptions(write_library, capsys, case):
    lib = base_exception_library(write_library, case, in_place=True)
    assert main(["check", lib]) == 1
    out = capsys.readouterr().out
    assert f"raised {RAISED_NAMES[case]}" in out and "PROBLEM" in out


# 3. custom-lib that is not Python source


def test_compiled_module_as_custom_lib_is_an_error(pipeline, tmp_path):
    import empycustom._native as native

    compiled = tmp_path / os.path.basename(native.__file__)
    shutil.copy(native.__file__, compiled)
    result = pipeline(f"{SOURCE} ! empycustom custom-lib={compiled} ! fakesink", timeout=10)
    assert not result.eos
    assert result.errors, "no error reached the bus: an application waiting for one hangs"
    text = result.errors[0][0]
    assert f"custom-lib '{compiled}' is not Python source text" in text


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "is not Python source text"),
        (b"\xff\xfe not utf-8 \xff\n", "failed to import: SyntaxError"),
    ],
)
def test_unloadable_file_as_custom_lib_is_an_error(pipeline, tmp_path, content, expected):
    path = tmp_path / "lib.py"
    path.write_bytes(content)
    result = pipeline(f"{SOURCE} ! empycustom custom-lib={path} ! fakesink", timeout=10)
    assert not result.eos
    assert f"custom-lib '{path}'" in result.errors[0][0] and expected in result.errors[0][0]


def test_compiled_module_through_gst_launch_fails_with_an_error(gst_launch, tmp_path):
    import empycustom._native as native

    description = f"{SOURCE} ! empycustom custom-lib={native.__file__} ! fakesink"
    completed = gst_launch(description.replace(",", " ! ", 0).split(), timeout=30)
    assert completed.returncode != 0
    assert "is not Python source text" in completed.stdout + completed.stderr


# 4. A Gst.Buffer larger than the frame


@pytest.mark.parametrize("size", [2 * FRAME_BYTES, FRAME_BYTES + 1, FRAME_BYTES - 100])
def test_output_gst_buffer_of_a_wrong_size_is_refused(pipeline, write_library, size):
    lib = write_library(
        "from gi.repository import Gst\n"
        "def process(in_buffer, in_meta, options, events):\n"
        f"    return Gst.Buffer.new_wrapped(bytes({size})), ''\n"
    )
    result = pipeline(f"{SOURCE} ! empycustom custom-lib={lib} ! appsink name=sink")
    assert not result.eos
    assert result.frames == []
    text = result.errors[0][0]
    assert "process() returned a Gst.Buffer" in text
    assert "uint8 (24, 32, 4) for RGBA 32x24" in text


def test_output_gst_buffer_of_the_frame_size_is_taken(pipeline, write_library):
    lib = write_library(
        "from gi.repository import Gst\n"
        "def process(in_buffer, in_meta, options, events):\n"
        f"    return Gst.Buffer.new_wrapped(bytes(range(256)) * {FRAME_BYTES // 256}), ''\n"
    )
    result = pipeline(f"{SOURCE} ! empycustom custom-lib={lib} ! appsink name=sink")
    assert result.eos, result.error_texts
    assert [frame.data for frame in result.frames] == [bytes(range(256)) * 12] * 3


# 5. A reload runs the file's current text


def test_reload_runs_a_same_size_edit_made_within_the_same_second(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # the worst case: .pyc files written
    path = tmp_path / "same.py"
    path.write_text("VERSION = 1\ndef process_ip(b, m, o, e):\n    return [{'v': VERSION}]\n")
    stamp = os.stat(path)
    running = load_library(str(path), in_place=True)
    path.write_text("VERSION = 2\ndef process_ip(b, m, o, e):\n    return [{'v': VERSION}]\n")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same time
    new = load_new_version(running, in_place=True, options={})
    try:
        assert new.module.VERSION == 2
        assert new.process_ip(None, {}, {}, {}) == [{"v": 2}]
    finally:
        running.unload()
        new.unload()


# 6. A relative custom-lib is resolved when the element starts


def test_relative_custom_lib_is_resolved_at_start(pipeline, write_library, tmp_path, monkeypatch):
    body = (
        "def process_ip(io_buffer, in_meta, options, events):\n"
        "    if in_meta['frame'][0]['frame_num'] == 20:\n"
        "        raise ValueError('late')\n"
        "    return [{{'where': '{where}'}}]\n"
    )
    first = write_library(body.format(where="first"), name="first/lib.py")
    write_library(body.format(where="second"), name="second/lib.py")
    monkeypatch.chdir(tmp_path / "first")

    def move_and_reload(pipeline_: Gst.Pipeline, count: int) -> None:
        if count == 5:
            os.chdir(tmp_path / "second")  # the application changes its working folder
            pipeline_.get_by_name("e").emit("reload")

    result = pipeline(
        f"videotestsrc num-buffers=30 ! {CAPS} ! empycustom name=e custom-lib=lib.py "
        "in-place=true ! appsink name=sink max-buffers=1",
        on_buffer=move_and_reload,
    )
    wheres = {frame.meta["frame"][0]["emcustom"]["where"] for frame in result.frames}
    assert wheres == {"first"}
    assert len(result.frames) == 20
    assert f"custom-lib '{first}' raised ValueError: late" in result.errors[0][0]
    assert os.path.isabs(first)


# 9. out_meta JSON cannot hold names the function


@pytest.mark.parametrize("in_place", [True, False])
def test_out_meta_json_cannot_hold_names_the_function(pipeline, write_library, in_place):
    lib = write_library(
        "def process_ip(io_buffer, in_meta, options, events):\n"
        "    return [{'x': object()}]\n"
        "def process(in_buffer, in_meta, options, events):\n"
        "    return in_buffer, [{'x': object()}]\n"
    )
    result = pipeline(
        f"{SOURCE} ! empycustom custom-lib={lib} in-place={str(in_place).lower()} ! fakesink"
    )
    function = "process_ip" if in_place else "process"
    assert f"{function}() returned out_meta that holds a value JSON cannot" in result.error_texts


# 7. Bad values on the command line are not lost


def inspect_text() -> str:
    completed = subprocess.run(
        ["gst-inspect-1.0", "empycustom"],
        capture_output=True, text=True, timeout=60, env=gst_environment(),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_inspect_lists_the_choices_of_on_error_and_reload():
    text = inspect_text()
    assert 'Enum "GstEmPyCustomOnError" Default: 0, "error"' in text
    for nick in ("error", "warn", "drop"):
        assert re.search(rf"\(\d\): {nick} +- Post ", text), nick
    assert 'Enum "GstEmPyCustomReload" Default: 0, "off"' in text
    assert re.search(r"\(1\): on-change +- Reload once", text)


@pytest.mark.parametrize("setting", ["on-error=wran", "reload=sometimes"])
def test_gst_launch_refuses_a_typo_in_a_choice(gst_launch, write_library, setting):
    lib = write_library("def process_ip(b, m, o, e):\n    return []\n")
    completed = gst_launch(
        ["videotestsrc", "num-buffers=2", "!", "empycustom", f"custom-lib={lib}",
         "in-place=true", setting, "!", "fakesink"]
    )  # fmt: skip
    assert completed.returncode != 0
    name, value = setting.split("=")
    assert f'could not set property "{name}"' in completed.stderr + completed.stdout
    assert f'to "{value}"' in completed.stderr + completed.stdout


def test_parse_launch_refuses_a_typo_in_a_choice():
    with pytest.raises(GLib.Error, match='could not set property "on-error"'):
        Gst.parse_launch("videotestsrc ! empycustom on-error=wran ! fakesink")


def test_choices_typed_as_today_still_work(pipeline, write_library):
    lib = write_library(
        "def process_ip(b, m, o, e):\n"
        "    if m['frame'][0]['frame_num'] == 1:\n"
        "        raise ValueError('one')\n"
        "    return []\n"
    )
    result = pipeline(
        f"{SOURCE} ! empycustom name=e custom-lib={lib} in-place=true on-error=drop "
        "reload=on-change ! appsink name=sink"
    )
    assert result.eos and len(result.frames) == 2
    assert "frame dropped (on-error=drop)" in result.warning_texts
    element = result.pipeline.get_by_name("e")
    assert element.get_property("on-error").value_nick == "drop"
    assert element.get_property("reload").value_nick == "on-change"


def test_non_json_events_from_a_launch_line_are_reported_at_start(pipeline, write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return [e]\n")
    result = pipeline(
        f"{SOURCE} ! empycustom name=e custom-lib={lib} in-place=true events=not-json ! "
        "appsink name=sink"
    )
    assert result.eos, result.error_texts
    texts = [text for text, _ in result.warnings]
    assert len(texts) == 1
    assert "property 'events' must be a JSON object, got 'not-json'" in texts[0]
    assert "(set before the element started)" in texts[0]


@pytest.mark.parametrize("name, fails", [("events", False), ("options", True)])
def test_non_json_values_through_gst_launch_are_reported(gst_launch, write_library, name, fails):
    """A warning for events (the value is ignored), an error for options (the start fails)."""
    lib = write_library("def process_ip(b, m, o, e):\n    return [e]\n")
    completed = gst_launch(
        ["videotestsrc", "num-buffers=2", "!", "empycustom", f"custom-lib={lib}",
         "in-place=true", f"{name}={{broken", "!", "fakesink"]
    )  # fmt: skip
    assert (completed.returncode != 0) == fails, completed.stderr
    assert f"property '{name}' must be a JSON object" in completed.stdout + completed.stderr


# 2. A frame view kept after the call never touches another frame, nor crashes the process

KEEPER = """
import sys, threading, time, types
import numpy as np
import empycustom

kept = []  # views of earlier frames, written from the library's own thread
kept_read = []  # read-only views of earlier frames, with the value their frame had
quit = threading.Event()
sys.modules["keeper_state"] = types.SimpleNamespace(kept_read=kept_read)  # for the test

def writer():
    while not quit.is_set():
        for view in kept[:-1]:  # never the newest: it may still be inside its call
            view[...] = 222
        time.sleep(0.0005)

def start(options):
    threading.Thread(target=writer, daemon=True).start()

def process_ip(buffer, in_meta, options, events):
    with empycustom.frame(buffer, in_meta, writable=options.get("writable", True)) as rgba:
        (kept if options.get("writable", True) else kept_read).append(rgba[..., 0])
    return []

def process(buffer, in_meta, options, events):
    with empycustom.frame(buffer, in_meta) as rgba:
        kept_read.append(rgba[..., 0])
        out = np.array(rgba)
    return out, []
"""

CHILD = """
import os, sys, time
import empycustom
from empycustom.gst.runtime import Gst
empycustom.register()
library, mode, source = sys.argv[1:4]
in_place = mode != "process"
options = '{"writable": false}' if mode == "read" else "{}"
pipeline = Gst.parse_launch(
    f"{source} ! empycustom name=e custom-lib={library} in-place={str(in_place).lower()} ! "
    "appsink name=sink emit-signals=true sync=false max-buffers=1"
)
pipeline.get_by_name("e").set_property("options", options)
frames, corrupted = [0], [0]

def on_sample(sink):
    buffer = sink.emit("pull-sample").get_buffer()
    ok, info = buffer.map(Gst.MapFlags.READ)
    red = bytes(info.data)[0::4]
    if 222 in red or len(set(red)) != 1:
        corrupted[0] += 1
    buffer.unmap(info)
    frames[0] += 1
    time.sleep(0.002)  # the writer's time with frames at the sink
    return Gst.FlowReturn.OK

pipeline.get_by_name("sink").connect("new-sample", on_sample)
pipeline.set_state(Gst.State.PLAYING)
bus = pipeline.get_bus()
warnings = []
while True:
    message = bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
                                     | Gst.MessageType.WARNING)
    if message is None or message.type != Gst.MessageType.WARNING:
        break
    warnings.append(message.parse_warning()[0].message)
assert message is not None and message.type == Gst.MessageType.EOS, message
pipeline.set_state(Gst.State.NULL)
del pipeline, bus
time.sleep(0.3)  # the writer goes on with every pool freed
module = sys.modules["keeper_state"]
# Each read-only view still holds its own frame: the frame's number, in every byte.
stale = sum(1 for index, view in enumerate(module.kept_read) if (view != index % 256).any())
print(f"frames={frames[0]} corrupted={corrupted[0]} stale={stale} warnings={warnings}")
"""


def run_keeper(write_library, tmp_path, mode: str, source: str) -> str:
    library = write_library(KEEPER, name="keeper.py")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    completed = subprocess.run(
        [sys.executable, str(script), library, mode, source],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, (completed.returncode, completed.stderr[-3000:])
    return completed.stdout


@pytest.mark.parametrize("mode", ["write", "read", "process"])
def test_kept_frame_views_never_touch_other_frames(write_library, tmp_path, mode):
    source = (
        "videotestsrc num-buffers=150 pattern=black ! video/x-raw,format=RGBA,width=320,height=240"
    )
    out = run_keeper(write_library, tmp_path, mode, source)
    assert "frames=150 corrupted=0" in out, out
    assert "kept numpy views of its frame after it returned" in out
    assert out.count("kept numpy views") == 1  # once per library


@pytest.mark.parametrize("mode", ["read", "process"])
def test_kept_read_only_views_keep_their_own_frame(write_library, tmp_path, mode):
    lib = write_library(KEEPER, name="keeper.py")
    feeder = tmp_path / "feeder.py"  # appsrc frames numbered 0, 1, 2 ... in every byte
    feeder.write_text(CHILD.replace(
        "pipeline.set_state(Gst.State.PLAYING)",
        "src = pipeline.get_by_name('src')\n"
        "for n in range(150):\n"
        "    b = Gst.Buffer.new_wrapped(bytes([n % 256]) * (320 * 240 * 4))\n"
        "    b.pts = n * Gst.SECOND // 30\n"
        "    src.emit('push-buffer', b)\n"
        "src.emit('end-of-stream')\n"
        "pipeline.set_state(Gst.State.PLAYING)",
    ))  # fmt: skip
    caps = "video/x-raw,format=RGBA,width=320,height=240,framerate=30/1"
    completed = subprocess.run(
        [sys.executable, str(feeder), lib, mode,
         f"appsrc name=src format=time caps={caps} max-bytes=0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, (completed.returncode, completed.stderr[-3000:])
    assert "frames=150 corrupted=0 stale=0" in completed.stdout, completed.stdout


FRAME_USES = """
import numpy as np
import empycustom

def process_ip(buffer, in_meta, options, events):
    with empycustom.frame(buffer, in_meta) as rgba:  # read, then write the same frame
        mean = float(rgba[..., 0].mean())
    with empycustom.frame(buffer, in_meta, writable=True) as rgba:
        rgba[..., 0] = 200
    if in_meta["frame"][0]["frame_num"] == 1:
        with empycustom.frame(buffer, in_meta) as rgba:
            red = rgba[..., 0]
            raise ValueError(f"failed with a view alive {red.shape}")
    return [{"mean": mean}]
"""


def test_views_used_inside_the_call_are_neither_copied_nor_reported(pipeline, write_library):
    lib = write_library(FRAME_USES)
    result = pipeline(
        f"{SOURCE} ! empycustom name=e custom-lib={lib} in-place=true on-error=warn ! "
        "appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert "kept numpy views" not in result.warning_texts
    assert len(result.warnings) == 1 and "failed with a view alive" in result.warnings[0][0]
    assert all(frame.data[0::4] == bytes([200]) * (32 * 24) for frame in result.frames)


# 8. A library call that never returns is reported


def test_a_call_that_does_not_return_is_reported_while_it_hangs(write_library):
    lib = write_library(
        "import threading\n"
        "released = threading.Event()\n"
        "def process_ip(io_buffer, in_meta, options, events):\n"
        "    if in_meta['frame'][0]['frame_num'] == 2:\n"
        "        released.wait()  # stuck here\n"
        "    return []\n",
        name="hangs.py",
    )
    pipeline = Gst.parse_launch(
        f"{SOURCE} ! empycustom name=e custom-lib={lib} in-place=true "
        "slow-call-warning=300 ! fakesink"
    )
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    try:
        started = time.monotonic()
        message = bus.timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.WARNING)
        waited = time.monotonic() - started
        assert message is not None, "no warning while the call hangs"
        text, debug = error_text(message)
        assert text.startswith(f"process_ip() of custom-lib '{lib}' has been running for 0.")
        assert "on frame 2 and has not returned (slow-call-warning=300 ms)" in text
        assert "released.wait()  # stuck here" in debug and f'File "{lib}", line 5' in debug
        assert 0.3 <= waited < 3
        assert bus.timed_pop_filtered(0, Gst.MessageType.EOS) is None  # still stuck
    finally:
        sys.modules[module_name_for(lib)].released.set()
    message = bus.timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.WARNING)
    assert message is not None and message.type == Gst.MessageType.EOS  # reported once
    pipeline.set_state(Gst.State.NULL)


def test_a_slow_stop_is_reported(pipeline, write_library):
    lib = write_library(
        "import time\n"
        "def stop(options):\n"
        "    time.sleep(0.8)\n"
        "def process_ip(io_buffer, in_meta, options, events):\n"
        "    return []\n"
    )
    result = pipeline(
        f"{SOURCE} ! empycustom custom-lib={lib} in-place=true slow-call-warning=200 ! fakesink"
    )
    assert result.eos
    assert len(result.warnings) == 1
    text, debug = result.warnings[0]
    assert f"stop() of custom-lib '{lib}' has been running for" in text
    assert "on frame" not in text and "time.sleep(0.8)" in debug


def test_calls_within_the_limit_and_a_disabled_limit_are_not_reported(pipeline, write_library):
    lib = write_library(
        "import time\n"
        "def process_ip(io_buffer, in_meta, options, events):\n"
        "    time.sleep(0.25)\n"
        "    return []\n"
    )
    for setting in ("slow-call-warning=2000", "slow-call-warning=0"):
        description = f"{SOURCE} ! empycustom custom-lib={lib} in-place=true {setting} ! fakesink"
        result = pipeline(description)
        assert result.eos and result.warnings == [], setting
    element = Gst.ElementFactory.make("empycustom")
    assert element.get_property("slow-call-warning") == 10000  # the default


def test_a_frame_block_left_open_lets_the_frame_go(pipeline, write_library):
    lib = write_library(
        "import empycustom\n"
        "open_blocks = []\n"
        "def process_ip(buffer, in_meta, options, events):\n"
        "    block = empycustom.frame(buffer, in_meta, writable=True)\n"
        "    block.__enter__()[..., 0] = 9  # never exited\n"
        "    open_blocks.append(block)\n"
        "    return []\n"
    )
    result = pipeline(f"{SOURCE} ! empycustom custom-lib={lib} in-place=true ! appsink name=sink")
    assert result.eos, result.error_texts
    assert "kept numpy views" in result.warning_texts
    for frame in result.frames:
        assert frame.data[0::4] == bytes([9]) * (32 * 24)  # written inside the call

"""A streaming thread keeps its Python thread state from its first buffer until it exits.

Without that, PyGObject creates and deletes a Python thread state around every callback from a
GStreamer thread: per-thread Python state (threading.local) is lost between buffers, and each
buffer pays for the creation (about 10 us here; see the README's Performance section).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from empycustom.gst.runtime import GLib

SOURCE = "videotestsrc num-buffers={n} ! video/x-raw,format=RGBA,width=64,height=48"

THREAD_LOCAL_LIBRARY = """
import threading
from pathlib import Path

local = threading.local()

class Token:
    # Dropped with the thread's Python state: it records that on disk.
    def __init__(self, path):
        self.path = path
    def __del__(self):
        Path(self.path).write_text("released")

def process_ip(io_buffer, in_meta, options, events):
    if not hasattr(local, "calls"):
        local.calls = 0
        local.token = Token(options["released"])
    local.calls += 1
    return {"calls": local.calls, "thread": threading.get_ident()}
"""


def _wait_for(path: Path, seconds: float, action: Callable[[], object] | None = None) -> bool:
    """Whether path exists within seconds; `action` is done before each look."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if action is not None:
            action()
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()


def test_thread_local_state_lasts_across_buffers_and_is_released_when_the_thread_exits(
    pipeline, write_library, tmp_path
):
    released = tmp_path / "released"
    lib = write_library(THREAD_LOCAL_LIBRARY)
    options = f'{{"released": "{released}"}}'.replace('"', '\\"')
    result = pipeline(
        f"{SOURCE.format(n=30)} ! empycustom name=e custom-lib={lib} in-place=true "
        f'options="{options}" ! appsink name=sink'
    )
    assert result.eos, result.error_texts
    frames = [signal["frame"][0]["emcustom"] for signal in result.signals]
    assert len({frame["thread"] for frame in frames}) == 1
    # A thread state created per callback would start every buffer at calls == 1.
    assert [frame["calls"] for frame in frames] == list(range(1, 31))
    assert not released.exists()  # the streaming thread waits in GLib's pool, state kept

    # Idle pool threads exit when asked. The streaming thread may join the idle ones only after
    # the pipeline stopped (with GLib 2.84, Debian 13), so ask again until it has.
    assert _wait_for(released, 10, GLib.thread_pool_stop_unused_threads), (
        "the exited thread's Python state was never released"
    )


PUSH_FROM_PYTHON_THREADS = """
import sys
import threading
import empycustom
from empycustom.gst.runtime import Gst

empycustom.register()
lib, released = sys.argv[1:3]
pipeline = Gst.Pipeline()
element = Gst.ElementFactory.make("empycustom")
element.set_property("custom-lib", lib)
element.set_property("in-place", True)
element.set_property("options", f'{{"released": "{released}"}}')
sink = Gst.ElementFactory.make("fakesink")
pipeline.add(element)
pipeline.add(sink)
element.link(sink)
counts = []
element.connect("new-meta", lambda e, text: counts.append(text.count('"calls"')))
pipeline.set_state(Gst.State.PLAYING)

# A source pad of our own: buffers are processed in the thread that pushes them.
pad = Gst.Pad.new("src", Gst.PadDirection.SRC)
pad.set_active(True)
pad.link(element.get_static_pad("sink"))
pad.push_event(Gst.Event.new_stream_start("python-threads"))
pad.push_event(Gst.Event.new_caps(Gst.Caps.from_string(
    "video/x-raw,format=RGBA,width=8,height=8,framerate=30/1")))
segment = Gst.Segment()
segment.init(Gst.Format.TIME)
pad.push_event(Gst.Event.new_segment(segment))

def push(count):
    for _ in range(count):
        assert pad.push(Gst.Buffer.new_wrapped(bytes(8 * 8 * 4))) == Gst.FlowReturn.OK

push(5)  # from the main thread
for _ in range(3):  # from Python threads that end: Python deletes their states
    thread = threading.Thread(target=push, args=(20,))
    thread.start()
    thread.join()
pad.push_event(Gst.Event.new_eos())
pipeline.set_state(Gst.State.NULL)
print(len(counts))
"""


def test_buffers_pushed_from_python_threads_end_cleanly(write_library, tmp_path):
    """Python deletes the states of its own threads: the element must not delete them again."""
    lib = write_library(THREAD_LOCAL_LIBRARY)
    script = tmp_path / "push.py"
    script.write_text(PUSH_FROM_PYTHON_THREADS)
    released = tmp_path / "released"
    completed = subprocess.run(
        [sys.executable, str(script), lib, str(released)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "Fatal Python error" not in completed.stderr
    assert completed.stdout.strip() == "65"
    assert released.read_text() == "released"  # a finished thread's state went with it


RUN_AND_EXIT = """
import sys
import empycustom
from empycustom.gst.runtime import Gst

empycustom.register()
pipeline = Gst.parse_launch(sys.argv[1])
pipeline.set_state(Gst.State.PLAYING)
pipeline.get_bus().timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.EOS)
pipeline.set_state(Gst.State.NULL)
print("done")  # the streaming thread still waits in GLib's pool when Python exits
"""


def test_the_interpreter_exits_cleanly_with_a_kept_thread_state(write_library, tmp_path):
    lib = write_library(THREAD_LOCAL_LIBRARY)
    options = f'{{"released": "{tmp_path / "released"}"}}'.replace('"', '\\"')
    script = tmp_path / "run.py"
    script.write_text(RUN_AND_EXIT)
    description = (
        f'{SOURCE.format(n=10)} ! empycustom custom-lib={lib} in-place=true options="{options}" '
        "! fakesink"
    )
    completed = subprocess.run(
        [sys.executable, str(script), description], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "done"
    assert "Fatal Python error" not in completed.stderr


def test_gst_launch_exits_cleanly_with_a_kept_thread_state(gst_launch, write_library, tmp_path):
    lib = write_library(THREAD_LOCAL_LIBRARY)
    released = tmp_path / "released"
    completed = gst_launch(
        [*SOURCE.format(n=10).split(), "!", "empycustom", f"custom-lib={lib}", "in-place=true",
         f'options={{"released": "{released}"}}', "!", "fakesink"]
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "Got EOS from element" in completed.stdout
    assert "CRITICAL" not in completed.stderr and "Fatal" not in completed.stderr

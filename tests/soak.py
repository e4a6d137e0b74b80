"""Long runs in a child process, under the leaks tracer: many buffers, many state changes.

Run by the tests through `run_soak()` (which sets GST_TRACERS=leaks and parses what the tracer
reports at `Gst.deinit()`), or by hand:

    python tests/soak.py buffers --count 500000
    python tests/soak.py cycles --count 100

The last line of stdout is a JSON summary of what was measured.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Each buffer carries this many ROI metas: the objects of in_meta once the element reads them.
ROIS_PER_BUFFER = 2

# Returns several results whatever the objects: per-object results, then one for the frame.
SOAK_LIBRARY = """
    def process_ip(io_buffer, in_meta, options, events):
        frame = in_meta["frame"][0]
        results = [{"index": i, "score": 0.5} for i in range(len(frame["object"]))]
        return results + [{"frame_num": frame["frame_num"], "values": [1, 2.5, "three"]}]
"""

# Logs every start() and stop() with how many buffers it processed in between.
COUNTING_LIBRARY = """
    processed = 0

    def start(options):
        with open(options["log"], "a") as log:
            log.write("start\\n")

    def stop(options):
        with open(options["log"], "a") as log:
            log.write(f"stop {processed}\\n")

    def process_ip(io_buffer, in_meta, options, events):
        global processed
        processed += 1
        return [{"processed": processed}]
"""

UNEXPECTED = ("ERROR", "WARNING", "INFO")  # bus messages a clean run never posts


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def write_library(folder: str, source: str, name: str) -> str:
    path = os.path.join(folder, name)
    Path(path).write_text(textwrap.dedent(source))
    return path


class BusWatch:
    """Counts the bus messages of the kinds a clean run never posts."""

    def __init__(self, pipeline: Any) -> None:
        from empycustom.gst.runtime import Gst

        self.counts = dict.fromkeys(UNEXPECTED, 0)
        self.texts: list[str] = []
        self._bus = pipeline.get_bus()
        self._mask = Gst.MessageType.ERROR | Gst.MessageType.WARNING | Gst.MessageType.INFO

    def drain(self) -> None:
        from empycustom.gst.messages import error_text

        while message := self._bus.pop_filtered(self._mask):
            kind = message.type.first_value_nick.upper()
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind != "INFO":
                self.texts.append(error_text(message)[0])


def soak_buffers(count: int, warmup: int, library: str) -> dict[str, Any]:
    """Push `count` 16x16 RGBA buffers with ROI metas through empycustom, signal connected."""
    from empycustom.gst.runtime import Gst, GstVideo

    pipeline = Gst.parse_launch(
        "appsrc name=src format=time caps=video/x-raw,format=RGBA,width=16,height=16,"
        f"framerate=1000/1 ! empycustom name=e in-place=true process-interval=1 "
        f"custom-lib={library} ! fakesink sync=false"
    )
    source = pipeline.get_by_name("src")
    element = pipeline.get_by_name("e")
    signals = [0]
    memory = {"warm": 0}

    last_meta = [""]

    def on_new_meta(_element: Any, text: str) -> None:
        signals[0] += 1
        last_meta[0] = text

    pushed = [0]

    def on_need_data(appsrc: Any, _length: int) -> None:
        # Called in appsrc's streaming thread: filling here keeps a single Python thread busy.
        for _ in range(32):
            if pushed[0] == count:
                appsrc.emit("end-of-stream")
                return
            if pushed[0] == warmup:
                gc.collect()
                memory["warm"] = rss_kb()
            buffer = Gst.Buffer.new_allocate(None, 16 * 16 * 4, None)
            buffer.pts = pushed[0] * Gst.MSECOND
            buffer.duration = Gst.MSECOND
            for index in range(ROIS_PER_BUFFER):
                GstVideo.buffer_add_video_region_of_interest_meta(buffer, "face", index, 2, 4, 4)
            appsrc.emit("push-buffer", buffer)
            pushed[0] += 1

    element.connect("new-meta", on_new_meta)
    source.connect("need-data", on_need_data)
    watch = BusWatch(pipeline)
    started = time.monotonic()
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    seconds = time.monotonic() - started
    eos = message.type == Gst.MessageType.EOS
    del message
    gc.collect()
    end_kb = rss_kb()
    pipeline.set_state(Gst.State.NULL)
    watch.drain()
    objects = json.loads(last_meta[0])["frame"][0]["object"] if last_meta[0] else []
    return {
        "buffers": pushed[0],
        "signals": signals[0],
        "objects_per_buffer": len(objects),
        "objects_with_results": sum("emcustom" in obj for obj in objects),
        "eos": eos,
        "seconds": round(seconds, 1),
        "us_per_buffer": round(seconds / max(pushed[0], 1) * 1e6, 1),
        "rss_warm_kb": memory["warm"],
        "rss_end_kb": end_kb,
        "rss_growth_kb": end_kb - memory["warm"],
        "messages": watch.counts,
        "message_texts": watch.texts,
    }


def soak_cycles(count: int, folder: str) -> dict[str, Any]:
    """NULL -> PLAYING -> NULL `count` times, then PAUSED <-> PLAYING `count` times."""
    from empycustom.gst.runtime import Gst

    log = os.path.join(folder, "calls.log")
    library = write_library(folder, COUNTING_LIBRARY, "counting_library.py")
    # Not live: a live videotestsrc sometimes produces nothing for seconds after PAUSED ->
    # PLAYING under load, with plain identity as well; that is the source's clock, not the
    # element under test.
    pipeline = Gst.parse_launch(
        "videotestsrc ! video/x-raw,format=RGBA,width=32,height=24,framerate=1000/1 "
        f"! empycustom name=e in-place=true custom-lib={library} ! fakesink sync=false async=false"
    )
    element = pipeline.get_by_name("e")
    element.set_property("options", json.dumps({"log": log}))
    watch = BusWatch(pipeline)
    frames = [0]
    element.connect("new-meta", lambda _e, _t: frames.__setitem__(0, frames[0] + 1))

    def wait_for_frames(at_least: int, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while frames[0] < at_least and time.monotonic() < deadline:
            time.sleep(0.001)
        return frames[0] >= at_least

    def calls() -> list[str]:
        lines = Path(log).read_text().splitlines() if os.path.exists(log) else []
        return [line.split()[0] for line in lines]

    started = time.monotonic()
    unpaired_after: list[int] = []
    stalled: list[str] = []
    for cycle in range(count):
        frames[0] = 0
        pipeline.set_state(Gst.State.PLAYING)
        if not wait_for_frames(3):
            stalled.append(f"cycle {cycle}: no frames")
        pipeline.set_state(Gst.State.NULL)
        if calls() != ["start", "stop"] * (cycle + 1):
            unpaired_after.append(cycle)
    cycle_seconds = time.monotonic() - started

    started = time.monotonic()
    frames[0] = 0
    pipeline.set_state(Gst.State.PLAYING)
    for cycle in range(count):
        seen = frames[0]
        # As an application should: each change completes before the next.
        for state in (Gst.State.PAUSED, Gst.State.PLAYING):
            pipeline.set_state(state)
            pipeline.get_state(5 * Gst.SECOND)
        if not wait_for_frames(seen + 2):
            stalled.append(f"pause cycle {cycle}: no frames after PLAYING")
    pipeline.set_state(Gst.State.NULL)
    pause_seconds = time.monotonic() - started
    watch.drain()
    made = calls()
    return {
        "cycles": count,
        "starts": made.count("start"),
        "stops": made.count("stop"),
        "start_stop_alternate": made == ["start", "stop"] * (count + 1),
        "unpaired_after_cycles": unpaired_after,
        "stalled": stalled,
        "null_playing_null_seconds": round(cycle_seconds, 1),
        "paused_playing_seconds": round(pause_seconds, 1),
        "messages": watch.counts,
        "message_texts": watch.texts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["buffers", "cycles"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=None, help="buffers before measuring RSS")
    parser.add_argument("--library", help="custom library for buffers (default: SOAK_LIBRARY)")
    arguments = parser.parse_args()

    import empycustom
    from empycustom.gst.runtime import Gst

    Gst.init(None)
    empycustom.register()
    with tempfile.TemporaryDirectory(prefix="empycustom-soak-") as folder:
        if arguments.mode == "buffers":
            warmup = arguments.warmup or max(arguments.count // 10, 1)
            library = arguments.library or write_library(folder, SOAK_LIBRARY, "soak_library.py")
            summary = soak_buffers(arguments.count, warmup, library)
        else:
            summary = soak_cycles(arguments.count, folder)
    # Every Python reference to GStreamer objects is gone: what the tracer sees alive leaked.
    gc.collect()
    Gst.deinit()
    print(json.dumps(summary), flush=True)


@dataclass
class SoakResult:
    summary: dict[str, Any]
    leaks: list[str]  # one line per object the leaks tracer found alive at the end
    stderr: str


_ALIVE = re.compile(r"object-alive, type-name=\(string\)(\w+).*?description=\(string\)([^,]*)")


def run_soak(mode: str, count: int, *extra: str, timeout: float = 900) -> SoakResult:
    """Run this script in a child process under the leaks tracer."""
    with tempfile.TemporaryDirectory(prefix="empycustom-leaks-") as folder:
        trace_file = os.path.join(folder, "trace.log")
        env = dict(os.environ)
        env.update(
            {
                "GST_TRACERS": "leaks",
                "GST_DEBUG": "GST_TRACER:7",
                "GST_DEBUG_FILE": trace_file,
                "GST_DEBUG_NO_COLOR": "1",
            }
        )
        done = subprocess.run(
            [sys.executable, __file__, mode, "--count", str(count), *extra],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        trace = Path(trace_file).read_text(errors="replace") if os.path.exists(trace_file) else ""
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError(f"soak {mode} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    leaks = [" ".join(match.groups()) for match in _ALIVE.finditer(trace)]
    if "Leaks detected" in done.stderr and not leaks:
        leaks.append("the leaks tracer reported leaks (see stderr)")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return SoakResult(summary=summary, leaks=leaks, stderr=done.stderr)


if __name__ == "__main__":
    main()

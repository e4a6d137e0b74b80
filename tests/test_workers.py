"""workers > 1 and batch-size > 1 in real pipelines: order, completeness, events, EOS, seeks,
NULL under load, crashed and hung workers, batches, live sources, pixels written in place."""

from __future__ import annotations

import json
import os
import time

import pytest
from pipeline import LEAKS_TRACER_ENV, assert_ran_without_leaks, feed_appsrc, run_pipeline

import empycustom
from empycustom.gst.runtime import Gst

SMALL = "video/x-raw,format=RGBA,width=16,height=16"

RANDOM_WORK = """
import random, time
import empycustom

def process_ip(buffer, in_meta, options, events):
    frame = in_meta["frame"][0]
    random.seed(frame["frame_num"])
    time.sleep(random.choice(options.get("sleeps", [0, 0, 0.0002, 0.001])))
    with empycustom.frame(buffer, in_meta, writable=True) as view:
        view[0, 0, 0] = frame["frame_num"] % 251
    return {"n": frame["frame_num"], "pts": frame["buf_pts"], "events": events}
"""


def nums(result) -> list[int]:
    return [frame.meta["frame"][0]["emcustom"]["n"] for frame in result.frames]


def through(lib: str, count: int, settings: str, **kwargs):
    """Run `count` small frames through `empycustom custom-lib=LIB SETTINGS` into an appsink."""
    return run_pipeline(
        f"videotestsrc num-buffers={count} ! {SMALL} ! empycustom name=e custom-lib={lib} "
        f"{settings} ! appsink name=sink",
        **kwargs,
    )


def strip_wall_clock(meta: dict) -> dict:
    for frame in meta["frame"]:
        frame.pop("timestamp", None)
    return meta


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_order_and_completeness_over_10000_frames(write_library, kind):
    lib = write_library(RANDOM_WORK)
    count = 10000 if kind == "thread" else 3000  # a process worker copies each frame twice
    result = through(
        lib,
        count,
        f"in-place=true workers=3 worker-kind={kind}",
        timeout=240,
    )
    assert result.eos, result.error_texts
    assert not result.errors and not result.warnings
    assert nums(result) == list(range(count))
    assert [frame.pts for frame in result.frames] == sorted(frame.pts for frame in result.frames)
    assert all(frame.data[0] == n % 251 for n, frame in enumerate(result.frames))
    # new-meta is emitted in order too, once per frame
    assert [s["frame"][0]["emcustom"]["n"] for s in result.signals] == list(range(count))


@pytest.mark.parametrize(
    "settings",
    [
        "workers=2 worker-kind=thread",
        "workers=2 worker-kind=process",
        "workers=2 worker-kind=thread in-place=false",
        "workers=2 worker-kind=process in-place=false",
    ],
)
def test_results_identical_to_one_worker(write_library, settings):
    lib = write_library(
        RANDOM_WORK
        + """
import numpy as np

def process(buffer, in_meta, options, events):
    out = process_ip(buffer, in_meta, options, events)
    with empycustom.frame(buffer, in_meta) as view:
        return 255 - np.array(view), out
"""
    )
    in_place = "in-place=false" not in settings
    extra = settings.replace("in-place=false", "")
    description = (
        "videotestsrc num-buffers=120 pattern=ball ! video/x-raw,format=RGBA,width=32,height=24 "
        f"! identity ! empycustom name=e custom-lib={lib} in-place={str(in_place).lower()} "
        "{workers} ! appsink name=sink"
    )
    if not in_place:  # not in place the input is not writable: read-only library variant
        lib_text = open(lib).read().replace("writable=True", "writable=False")
        lib_text = lib_text.replace('view[0, 0, 0] = frame["frame_num"] % 251', "pass")
        open(lib, "w").write(lib_text)
    one = run_pipeline(description.format(workers=""), timeout=60)
    many = run_pipeline(description.format(workers=extra), timeout=120)
    assert one.eos and many.eos, many.error_texts
    assert len(one.frames) == len(many.frames) == 120
    for a, b in zip(one.frames, many.frames, strict=True):
        assert strip_wall_clock(a.meta) == strip_wall_clock(b.meta)
        assert a.data == b.data
        assert a.pts == b.pts


def test_skipped_frames_keep_their_place(write_library):
    lib = write_library(RANDOM_WORK)
    result = through(
        lib,
        300,
        "in-place=true workers=3 process-interval=3",
        timeout=60,
    )
    assert result.eos
    assert len(result.frames) == 300
    for n, frame in enumerate(result.frames):
        if n % 3:
            assert frame.meta is None
        else:
            assert frame.meta["frame"][0]["emcustom"]["n"] == n
    assert [frame.pts for frame in result.frames] == sorted(frame.pts for frame in result.frames)


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_events_delivered_once_in_stream_order(write_library, kind):
    lib = write_library(RANDOM_WORK)
    sent = []

    def on_buffer(pipeline, count):
        if count % 25 == 0 and count < 200:
            sent.append(count)
            pipeline.get_by_name("e").set_property("events", json.dumps({"at": count}))

    result = through(
        lib,
        240,
        f"in-place=true workers=3 worker-kind={kind}",
        timeout=120,
        on_buffer=on_buffer,
    )
    assert result.eos
    delivered = [
        frame.meta["frame"][0]["events"]["at"]
        for frame in result.frames
        if "events" in frame.meta["frame"][0]
    ]
    assert delivered == sent  # each exactly once, in the order they were set
    library_saw = [
        frame.meta["frame"][0]["emcustom"]["events"]
        for frame in result.frames
        if frame.meta["frame"][0]["emcustom"]["events"]
    ]
    assert library_saw == [{"at": at} for at in sent]


SLOW = """
import time

def process_ip(buffer, in_meta, options, events):
    time.sleep(options.get("sleep", 0.05))
    return {"n": in_meta["frame"][0]["frame_num"]}
"""


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_eos_waits_for_frames_in_flight(write_library, kind):
    lib = write_library(SLOW)
    result = through(
        lib,
        7,
        f"in-place=true workers=4 worker-kind={kind}",
        timeout=60,
    )
    assert result.eos
    assert nums(result) == list(range(7))


def test_flushing_seek_during_flight(write_library):
    lib = write_library(SLOW)
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers=40 ! {SMALL},framerate=30/1 ! empycustom name=e "
        f'custom-lib={lib} in-place=true workers=3 options="{{\\"sleep\\": 0.03}}" ! '
        "fakesink name=sink sync=false signal-handoffs=true"
    )
    seen = []
    pipeline.get_by_name("sink").connect("handoff", lambda _s, buffer, _p: seen.append(buffer.pts))
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    assert bus.timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.ASYNC_DONE) is not None
    time.sleep(0.2)  # frames in flight in all workers
    assert pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH, 0)
    message = bus.timed_pop_filtered(
        60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.WARNING
    )
    pipeline.set_state(Gst.State.NULL)
    assert message is not None and message.type == Gst.MessageType.EOS, message
    assert seen.count(0) == 2  # the first frame again after the seek
    restart = len(seen) - 1 - seen[::-1].index(0)
    frame = Gst.SECOND // 30
    before, after = seen[:restart], seen[restart:]
    # No frame lost or reordered on either side; frames in flight at the seek were discarded.
    assert all(b - a in (frame, frame + 1) for a, b in zip(before, before[1:], strict=False))
    assert all(b - a in (frame, frame + 1) for a, b in zip(after, after[1:], strict=False))
    assert len(after) > 1


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_null_returns_promptly_under_load(write_library, kind):
    lib = write_library(SLOW)
    pipeline = Gst.parse_launch(
        f"videotestsrc ! {SMALL} ! empycustom name=e custom-lib={lib} in-place=true "
        f'workers=2 worker-kind={kind} options="{{\\"sleep\\": 0.3}}" ! fakesink'
    )
    pipeline.set_state(Gst.State.PLAYING)
    pipeline.get_state(10 * Gst.SECOND)
    time.sleep(0.5)
    began = time.monotonic()
    pipeline.set_state(Gst.State.NULL)
    elapsed = time.monotonic() - began
    assert elapsed < 1.5, elapsed


CRASH = """
import os, time

def process_ip(buffer, in_meta, options, events):
    n = in_meta["frame"][0]["frame_num"]
    if n == options["crash_at"]:
        os._exit(3)
    time.sleep(0.05)  # the other worker alone would take seconds: the new process gets frames
    return {"n": n, "pid": os.getpid()}
"""


@pytest.mark.parametrize("policy", ["error", "warn", "drop"])
def test_worker_process_killed_mid_stream(write_library, policy):
    lib = write_library(CRASH)
    result = run_pipeline(
        f"videotestsrc num-buffers=80 ! {SMALL} ! empycustom name=e custom-lib={lib} "
        f"in-place=true workers=2 worker-kind=process on-error={policy} "
        'options="{\\"crash_at\\": 10}" ! appsink name=sink',
        timeout=60,
    )
    if policy == "error":
        assert result.errors and not result.eos
        assert "died (exit status 3)" in result.error_texts
        assert all(frame.meta["frame"][0]["emcustom"]["n"] < 10 for frame in result.frames)
        return
    assert result.eos, result.error_texts
    assert "died (exit status 3)" in result.warning_texts
    assert "replaced by a new one" in result.warning_texts
    processed = [f.meta["frame"][0]["emcustom"]["n"] for f in result.frames if f.meta]
    assert processed == [n for n in range(80) if n != 10]
    if policy == "warn":
        assert len(result.frames) == 80 and result.frames[10].meta is None
    else:
        assert len(result.frames) == 79
    pids = {f.meta["frame"][0]["emcustom"]["pid"] for f in result.frames if f.meta}
    assert len(pids) == 3  # two workers, one of them replaced


def test_a_worker_process_that_dies_between_frames_is_reported(write_library):
    # Frame 3's worker ends 10 ms after returning it; its next frame comes 100 ms later.
    lib = write_library(
        """
import os, threading, time

def process_ip(buffer, in_meta, options, events):
    n = in_meta["frame"][0]["frame_num"]
    if n == 3:
        threading.Thread(target=lambda: (time.sleep(0.01), os._exit(3))).start()
    return {"n": n, "pid": os.getpid()}
"""
    )
    result = run_pipeline(
        f"videotestsrc is-live=true num-buffers=12 ! {SMALL},framerate=20/1 ! "
        f"empycustom name=e custom-lib={lib} in-place=true workers=2 worker-kind=process "
        "on-error=warn ! appsink name=sink",
        timeout=60,
    )
    assert result.eos, result.error_texts
    assert [f.meta["frame"][0]["emcustom"]["n"] for f in result.frames] == list(range(12))
    (warning,) = result.warnings
    assert "died (exit status 3) between frames; it was replaced by a new one" in warning[0]
    assert len({f.meta["frame"][0]["emcustom"]["pid"] for f in result.frames}) == 3


def test_a_worker_process_killed_from_outside(write_library):
    lib = write_library(
        """
import os, time

def process_ip(buffer, in_meta, options, events):
    time.sleep(0.01)
    return {"pid": os.getpid()}
"""
    )
    pids = []

    def on_buffer(pipeline, count):
        if count == 20:
            import os
            import signal

            os.kill(pids[0], signal.SIGKILL)

    def remember(pipeline):
        element = pipeline.get_by_name("e")
        element.connect(
            "new-meta",
            lambda _e, text: pids.append(json.loads(text)["frame"][0]["emcustom"]["pid"]),
        )

    result = through(
        lib,
        80,
        "in-place=true workers=2 worker-kind=process on-error=warn",
        timeout=60,
        configure=remember,
        on_buffer=on_buffer,
    )
    assert result.eos
    assert len(result.frames) == 80
    assert "killed by SIGKILL" in result.warning_texts


HANG = """
import time

def process_ip(buffer, in_meta, options, events):
    n = in_meta["frame"][0]["frame_num"]
    if n == 5:
        time.sleep(30)
    return {"n": n}
"""


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_a_hung_worker_is_reported_and_replaced(write_library, kind):
    lib = write_library(HANG)
    began = time.monotonic()
    result = run_pipeline(
        f"videotestsrc num-buffers=20 ! {SMALL} ! empycustom name=e custom-lib={lib} "
        f"in-place=true workers=2 worker-kind={kind} worker-timeout=1500 on-error=drop ! "
        "appsink name=sink",
        timeout=60,
    )
    assert result.eos, result.error_texts
    assert time.monotonic() - began < 15
    assert "did not return within 1500 ms" in result.warning_texts
    assert nums(result) == [n for n in range(20) if n != 5]


def test_a_hung_worker_under_error_stops_the_stream(write_library):
    lib = write_library(HANG)
    result = through(
        lib,
        20,
        "in-place=true workers=2 worker-kind=process worker-timeout=300",
        timeout=30,
    )
    assert result.errors
    assert "did not return within 300 ms" in result.error_texts
    assert nums(result) == list(range(5))


BATCH = """
import empycustom

def process_batch(buffers, in_meta, options, events):
    results = []
    for buffer, frame in zip(buffers, in_meta["frame"]):
        with empycustom.frame(buffer, frame, writable=True) as view:
            view[0, 0, 1] = len(buffers)
        results.append({"n": frame["frame_num"], "batch": len(buffers)})
    return results
"""


@pytest.mark.parametrize("settings", ["workers=1", "workers=2", "workers=2 worker-kind=process"])
def test_batches_of_4_with_10_frames(write_library, settings):
    lib = write_library(BATCH)
    result = through(
        lib,
        10,
        f"in-place=true batch-size=4 {settings}",
        timeout=60,
    )
    assert result.eos, result.error_texts
    assert nums(result) == list(range(10))
    batches = [frame.meta["frame"][0]["emcustom"]["batch"] for frame in result.frames]
    assert batches == [4] * 8 + [2] * 2
    assert [frame.data[1] for frame in result.frames] == batches


def test_batch_size_needs_process_batch(write_library):
    lib = write_library(SLOW)
    result = run_pipeline(
        f"videotestsrc num-buffers=3 ! {SMALL} ! empycustom name=e custom-lib={lib} "
        "in-place=true batch-size=4 ! fakesink",
        timeout=30,
    )
    assert result.errors
    assert "no function process_batch(), which batch-size > 1 needs" in result.error_texts


def test_live_source_with_batch_timeout(write_library):
    lib = write_library(BATCH)
    arrivals = []
    result = run_pipeline(
        f"videotestsrc is-live=true num-buffers=6 ! {SMALL},framerate=10/1 ! "
        f"empycustom name=e custom-lib={lib} in-place=true batch-size=4 batch-timeout=30 ! "
        "appsink name=sink",
        timeout=30,
        on_buffer=lambda _p, count: arrivals.append(time.monotonic()),
    )
    assert result.eos
    assert nums(result) == list(range(6))
    # Frames come every 100 ms: each waits 30 ms, then goes alone.
    assert [frame.meta["frame"][0]["emcustom"]["batch"] for frame in result.frames] == [1] * 6
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps[:-1]) > 0.05  # not held back to the end of the stream (EOS drains the last)


def test_process_workers_write_pixels_in_place(write_library):
    lib = write_library(
        """
import empycustom

def process_ip(buffer, in_meta, options, events):
    with empycustom.frame(buffer, in_meta, writable=True) as view:
        view[:, :, 0] = 255 - view[:, :, 0]
        view[1, 2, 3] = 7
    return {"done": True}
"""
    )
    one = run_pipeline(
        f"videotestsrc num-buffers=6 pattern=ball ! {SMALL} ! appsink name=sink", timeout=30
    )
    result = run_pipeline(
        f"videotestsrc num-buffers=6 pattern=ball ! {SMALL} ! empycustom name=e "
        f"custom-lib={lib} in-place=true workers=2 worker-kind=process ! appsink name=sink",
        timeout=60,
    )
    assert result.eos
    for before, after in zip(one.frames, result.frames, strict=True):
        expected = bytearray(before.data)
        for index in range(0, len(expected), 4):
            expected[index] = 255 - expected[index]
        expected[(1 * 16 + 2) * 4 + 3] = 7
        assert after.data == bytes(expected)


def test_library_exception_in_a_worker_follows_on_error(write_library):
    lib = write_library(
        """
def process_ip(buffer, in_meta, options, events):
    if in_meta["frame"][0]["frame_num"] == 3:
        raise ValueError("bad frame")
    return {}
"""
    )
    for kind in ("thread", "process"):
        result = run_pipeline(
            f"videotestsrc num-buffers=8 ! {SMALL} ! empycustom name=e custom-lib={lib} "
            f"in-place=true workers=2 worker-kind={kind} on-error=warn ! appsink name=sink",
            timeout=60,
        )
        assert result.eos
        assert len(result.frames) == 8
        assert "process_ip() of custom-lib" in result.warning_texts
        assert "ValueError: bad frame" in result.warning_texts
        assert 'in process_ip\n    raise ValueError("bad frame")' in result.warning_texts


def test_process_worker_start_failure_fails_the_state_change(write_library):
    lib = write_library(
        """
def start(options):
    raise RuntimeError("no model")

def process_ip(buffer, in_meta, options, events):
    return {}
"""
    )
    result = run_pipeline(
        f"videotestsrc num-buffers=3 ! {SMALL} ! empycustom name=e custom-lib={lib} "
        "in-place=true workers=2 worker-kind=process ! fakesink",
        timeout=30,
    )
    assert result.errors
    assert "start() of custom-lib" in result.error_texts
    assert "RuntimeError: no model" in result.error_texts


def test_worker_settings_refused_while_running(write_library):
    lib = write_library(SLOW)
    pipeline = Gst.parse_launch(
        f"videotestsrc ! {SMALL} ! empycustom name=e custom-lib={lib} in-place=true "
        'workers=2 options="{\\"sleep\\": 0}" ! fakesink'
    )
    pipeline.set_state(Gst.State.PAUSED)
    pipeline.get_state(10 * Gst.SECOND)
    element = pipeline.get_by_name("e")
    element.set_property("workers", 4)
    message = pipeline.get_bus().timed_pop_filtered(Gst.SECOND, Gst.MessageType.WARNING)
    pipeline.set_state(Gst.State.NULL)
    assert element.get_property("workers") == 2
    assert message is not None
    text = message.parse_warning()[0].message
    assert "'workers' cannot change while the element is running" in text


def test_workers_with_a_downstream_empycustom_and_appsrc_metas(write_library):
    """A chain of two elements with workers, and a writable buffer from appsrc."""
    lib = write_library(RANDOM_WORK)
    frames = []
    for n in range(50):
        buffer = Gst.Buffer.new_allocate(None, 16 * 16 * 4, None)
        buffer.pts = n * Gst.SECOND // 30
        frames.append(buffer)
    result = run_pipeline(
        f"appsrc name=src ! empycustom name=e custom-lib={lib} in-place=true workers=2 ! "
        f"empycustom name=f custom-lib={lib} in-place=true workers=2 worker-kind=process ! "
        "appsink name=sink",
        timeout=60,
        configure=lambda pipeline: feed_appsrc(pipeline, SMALL + ",framerate=30/1", frames),
    )
    assert result.eos, result.error_texts
    assert nums(result) == list(range(50))


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_hot_reload_with_workers(write_library, kind):
    version = """
def process_ip(buffer, in_meta, options, events):
    return {"n": in_meta["frame"][0]["frame_num"], "version": VERSION}
"""
    lib = write_library("VERSION = 1\n" + version, name="reloaded.py")
    switched = []

    def on_buffer(pipeline, count):
        if count == 30:
            with open(lib, "w") as file:
                file.write("VERSION = 2\n" + version)
            pipeline.get_by_name("e").emit("reload")
            switched.append(count)

    result = through(
        lib,
        150,
        f"in-place=true workers=2 worker-kind={kind}",
        timeout=60,
        on_buffer=on_buffer,
    )
    assert result.eos, result.error_texts
    assert not result.warnings, result.warning_texts
    assert nums(result) == list(range(150))
    versions = [frame.meta["frame"][0]["emcustom"]["version"] for frame in result.frames]
    first_new = versions.index(2)
    assert versions == [1] * first_new + [2] * (150 - first_new)  # one switch, at a boundary
    assert 30 <= first_new < 150


def test_check_command_with_workers_and_batches(write_library):
    import subprocess
    import sys
    from pathlib import Path

    lib = write_library(BATCH)
    command = [str(Path(sys.executable).parent / "empycustom"), "check", lib]
    done = subprocess.run(
        [*command, "--batch-size", "2", "--workers", "2", "--worker-kind", "process"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"batch": 2' in done.stdout and '"batch": 1' in done.stdout
    assert done.stdout.rstrip().endswith("check: ok")
    missing = subprocess.run(
        [*command[:2], write_library(SLOW), "--batch-size", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "process_batch(), which batch-size > 1 needs" in missing.stdout


@pytest.mark.parametrize(
    "settings",
    [
        "workers=2 in-place=false",
        "workers=2 worker-kind=process in-place=true",
        "workers=2 batch-size=3 in-place=true",
    ],
)
def test_gst_launch_with_workers_leaves_nothing_alive(gst_launch, write_library, settings):
    lib = write_library(
        BATCH
        + """
import numpy as np

def process_ip(buffer, in_meta, options, events):
    return {"n": in_meta["frame"][0]["frame_num"]}

def process(buffer, in_meta, options, events):
    return np.zeros((16, 16, 4), np.uint8), {"n": in_meta["frame"][0]["frame_num"]}
"""
    )
    result = gst_launch(
        ["videotestsrc", "num-buffers=30", "!", SMALL, "!", "empycustom", f"custom-lib={lib}",
         *settings.split(), "!", "fakesink"],
        env=LEAKS_TRACER_ENV,
    )  # fmt: skip
    assert_ran_without_leaks(result)


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_options_apply_from_the_next_frame_and_last_meta(write_library, kind):
    lib = write_library(
        """
import time

def process_ip(buffer, in_meta, options, events):
    time.sleep(0.002)
    return {"n": in_meta["frame"][0]["frame_num"], "level": options.get("level", 0)}
"""
    )
    set_at = []

    def on_buffer(pipeline, count):
        if count in (40, 80):
            set_at.append(count)
            pipeline.get_by_name("e").set_property("options", json.dumps({"level": count}))

    result = through(
        lib,
        120,
        f"in-place=true workers=2 worker-kind={kind} batch-size=1",
        timeout=60,
        on_buffer=on_buffer,
    )
    assert result.eos
    levels = [frame.meta["frame"][0]["emcustom"]["level"] for frame in result.frames]
    # Each value takes over at one frame and holds from there: never back to an older one.
    assert levels == sorted(levels)
    assert set(levels) == {0, 40, 80}
    assert levels.index(40) >= 40 and levels.index(80) >= 80
    last = json.loads(result.pipeline.get_by_name("e").get_property("last-meta"))
    assert last == result.frames[-1].meta


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_objects_from_a_detector_with_workers(write_library, kind):
    from pipeline import ASTRONAUT_FACES, faces_source

    lib = write_library(
        """
def process_ip(buffer, in_meta, options, events):
    frame = in_meta["frame"][0]
    return [{"width": item["rect_params"]["width"]} for item in frame["object"]]
"""
    )
    result = run_pipeline(
        f"{faces_source(ASTRONAUT_FACES, frames=4)} ! empycustom name=e custom-lib={lib} "
        f"in-place=true workers=2 worker-kind={kind} labels=background,face ! "
        f"empycustom name=f custom-lib={lib} in-place=true workers=2 ! appsink name=sink",
        timeout=60,
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == 4
    for frame in result.frames:
        objects = frame.meta["frame"][0]["object"]
        assert len(objects) == 3
        for item in objects:
            assert item["emcustom"] == {"width": item["rect_params"]["width"]}
            assert item["class_id"] == 1


def test_out_meta_a_process_worker_cannot_send(write_library):
    lib = write_library(
        """
import threading

def process_ip(buffer, in_meta, options, events):
    if in_meta["frame"][0]["frame_num"] == 2:
        return [threading.Lock()]
    return {"ok": 1}
"""
    )
    result = through(
        lib,
        5,
        "in-place=true workers=2 worker-kind=process on-error=warn",
        timeout=60,
    )
    assert result.eos
    assert len(result.frames) == 5 and result.frames[2].meta is None
    assert "out_meta cannot be sent from the worker process: TypeError" in result.warning_texts


def test_a_dead_worker_process_does_not_raise_sigpipe(write_library):
    """`empycustom launch` restores SIGPIPE's default action (a quiet `| head`), and so may any
    application: a message to a worker process that died must not kill it with SIGPIPE."""
    import subprocess
    import sys
    import textwrap

    lib = write_library(SLOW)
    script = textwrap.dedent(
        f"""
        import os, signal
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        from empycustom.frames.worker_process import ProcessWorker, Spec
        worker = ProcessWorker(Spec({lib!r}, True, False, {{}}), 0, 60)
        worker.launch()
        assert worker.started() is None
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        print("reload:", worker.reload({{}}))
        worker.kill()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "reload: worker process 0 died while reloading: died (killed by SIGKILL)" in done.stdout


def test_process_workers_with_more_than_1024_descriptors_open(write_library):
    """An application with many files open (the whole test suite is one): waiting for a worker
    must not use select(), which refuses descriptors above 1023."""
    lib = write_library(SLOW)
    keep = [open(os.devnull) for _ in range(1100)]
    try:
        result = through(lib, 6, "in-place=true workers=2 worker-kind=process", timeout=60)
    finally:
        for file in keep:
            file.close()
    assert result.eos, result.error_texts
    assert nums(result) == list(range(6))


def latency_through(lib: str, settings: str) -> tuple[bool, float, float | None]:
    """Live appsrc (10 ms min, 50 ms max latency, 25 frames/s) ! empycustom SETTINGS: the
    latency the sink's query gets, in ms, once a batch of frames went through."""
    empycustom.register()
    pipeline = Gst.parse_launch(
        f"appsrc name=src is-live=true format=time min-latency=10000000 max-latency=50000000 "
        f"caps={SMALL},framerate=25/1 ! "
        f"empycustom name=e custom-lib={lib} in-place=true {settings} ! fakesink name=sink"
    )
    try:
        pipeline.set_state(Gst.State.PLAYING)
        for number in range(4):
            buffer = Gst.Buffer.new_wrapped(bytes(16 * 16 * 4))
            buffer.pts, buffer.duration = number * 40 * Gst.MSECOND, 40 * Gst.MSECOND
            pipeline.get_by_name("src").emit("push-buffer", buffer)
        assert pipeline.get_state(10 * Gst.SECOND)[0] == Gst.StateChangeReturn.SUCCESS
        query = Gst.Query.new_latency()
        assert pipeline.get_by_name("sink").get_static_pad("sink").peer_query(query)
        live, low, high = query.parse_latency()
        return live, low / Gst.MSECOND, None if high == Gst.CLOCK_TIME_NONE else high / Gst.MSECOND
    finally:
        pipeline.set_state(Gst.State.NULL)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("", (10, 50)),  # without workers the element adds nothing
        ("workers=3", (10, 50 + 4 * 40)),  # holds up to 4 frames
        ("workers=2 batch-size=4", (10 + 3 * 40, 50 + 12 * 40)),  # waits for 3 more frames
        ("workers=2 batch-size=4 batch-timeout=20", (10 + 20, 50 + 12 * 40)),
    ],
)
def test_latency_query_counts_the_frames_workers_hold(write_library, settings, expected):
    lib = write_library(
        BATCH + "\ndef process_ip(buffer, in_meta, options, events):\n    return {}\n"
    )
    live, low, high = latency_through(lib, settings)
    assert live
    assert (round(low, 3), round(high, 3)) == expected


NOT_IN_PLACE = """
import numpy as np
import empycustom

def process(buffer, in_meta, options, events):
    with empycustom.frame(buffer, in_meta) as view:
        out = np.array(view)
    out[0, 0, 0] = in_meta["frame"][0]["frame_num"] % 256
    return out, {}
"""


@pytest.mark.parametrize("settings", ["workers=1", "workers=2", "workers=2 worker-kind=process"])
def test_not_in_place_output_buffers_come_from_the_negotiated_pool(write_library, settings):
    # fakevideosink answers the ALLOCATION query, so the element gets a buffer pool.
    lib = write_library(NOT_IN_PLACE)
    empycustom.register()
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers=12 ! {SMALL} ! "
        f"empycustom name=e custom-lib={lib} in-place=false {settings} ! fakevideosink name=sink"
    )
    element = pipeline.get_by_name("e")
    seen = []

    def on_buffer(_pad, info):
        buffer = info.get_buffer()
        pool = element.get_buffer_pool()
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        seen.append(
            (buffer.pool and buffer.pool.get_name(), pool and pool.get_name(), mapped.data[0])
        )
        buffer.unmap(mapped)
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, on_buffer
    )
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    pipeline.set_state(Gst.State.NULL)
    assert message is not None and message.type == Gst.MessageType.EOS
    assert len(seen) == 12
    assert all(used is not None and used == negotiated for used, negotiated, _ in seen), seen
    assert [first for _, _, first in seen] == [n % 256 for n in range(12)]

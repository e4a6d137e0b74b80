"""Frames per second with workers=1 and workers=2 (`make bench` runs it after bench.py).

Cases (issue 16), each run in a fresh child process, repetitions interleaved:
- `thread`: 1920x1080 RGBA in place, a library doing about 10 ms of single-threaded numpy
  work per frame (np.sin on a float64 block of the frame, about 50 calls of 0.2 ms each, each
  releasing the GIL: compute-bound, so that it measures the element, not the machine's memory
  bandwidth or numpy's per-call overhead), workers=1 against workers=2 worker-kind=thread;
- `process`: 320x240 RGBA in place, a pure-Python library of about 5 ms per frame (a loop over
  objects), workers=1 against workers=2 worker-kind=process.
Frames per second are measured with no Python probe on the element's pads (after 20 warm-up
frames, from the last of them leaving the element to EOS): a probe per frame would hold the GIL
in the streaming and output threads, competing with the workers it measures. Runs of their own
compute a digest of every frame's merged meta (without the wall-clock timestamp) and pixels,
which must be the same for workers=1 and workers=2, and the latency each frame spends in the
element (wall clock from its sink pad to its source pad), with a live source at 60% of the
workers=1 rate, so that it does not include the wait of a source running ahead.

The work per frame is calibrated once (in the parent, by calling the library, then checked
and corrected in a short workers=1 pipeline) and passed to every child, so both sides do the
same work. Each repetition also measures the machine's ceiling: the library called outside
GStreamer in one thread, then in two threads (thread case) or two processes (process case).
Targets: thread >= 1.8x, process >= 1.7x, latency added at N=2 at most one frame time
(1 / fps of the N=2 run), digests equal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WARM_UP_FRAMES = 20  # frames each run lets pass before it measures
CALIBRATION_FRAMES = 60  # frames of the workers=1 run that checks the calibration

NUMPY_LIBRARY = """
import threading
import numpy as np
import empycustom

_local = threading.local()

def process_ip(buffer, in_meta, options, events):
    with empycustom.frame(buffer, in_meta, writable=True) as view:
        # Compute-bound numpy work on a part of the frame (a 64 K-element float64 block, about
        # 0.2 ms per call): numpy releases the GIL for each call, as OpenCV would. Source and
        # result (1 MB) fit in a core's own 2 MB L2 cache: the work measures the element, not
        # how two cores share the L3 cache and memory. (float32 calls of 40 us had two threads
        # handing the GIL over 250 times a frame each: 1.7x without GStreamer.)
        block = getattr(_local, "block", None)
        if block is None:
            block = _local.block = np.empty(65536, np.float64), np.empty(65536, np.float64)
        source, result = block
        source[:] = view[:64, :1024, 0].ravel()
        for _ in range(options["rounds"]):
            np.sin(source, out=result)
        total = int(np.count_nonzero(result > 0))
        view[0, 0, 0] = in_meta["frame"][0]["frame_num"] % 256
    return {"positive": total}
"""

PYTHON_LIBRARY = """
import empycustom

def process_ip(buffer, in_meta, options, events):
    objects = [{"id": i, "x": i * 7 % 300, "y": i * 13 % 220} for i in range(200)]
    score = 0
    for _ in range(options["rounds"]):
        for item in objects:                       # pure Python: holds the GIL
            score += (item["x"] * 31 + item["y"]) % 97
    with empycustom.frame(buffer, in_meta, writable=True) as view:
        view[0, 0, 0] = score % 256
    return {"score": score}
"""

CASES = {
    "thread": {
        "library": NUMPY_LIBRARY,
        "caps": "video/x-raw,format=RGBA,width=1920,height=1080",
        "pattern": "black",  # drawing 1080p frames would make the source the bottleneck
        "kind": "thread",
        "work_ms": 10.0,
        "frames": 150,
        "target": 1.8,
    },
    "process": {
        "library": PYTHON_LIBRARY,
        "caps": "video/x-raw,format=RGBA,width=320,height=240",
        "pattern": "ball",
        "kind": "process",
        "work_ms": 5.0,
        "frames": 300,
        "target": 1.7,
    },
}


def run_child(case: str, workers: int, rounds: int, frames: int, library: str, mode: str) -> dict:
    """One measured run (in this process), `frames` frames after 20 warm-up ones.

    mode "fps": frames per second, with no Python probe on the element's pads after the
    warm-up (a probe per frame would hold the GIL in the streaming and output threads, twice a
    frame, competing with the workers it measures); "check": the digest of every frame's
    merged meta and pixels, and latencies; "live:N": latencies with a live source at N fps
    instead of one as fast as the element takes frames."""
    import empycustom
    from empycustom.gst.runtime import Gst
    from empycustom.meta.custom_meta import read_meta_json

    empycustom.register()
    spec = CASES[case]
    options = json.dumps({"rounds": rounds}).replace('"', '\\"')
    source = f"videotestsrc pattern={spec['pattern']} num-buffers={frames + WARM_UP_FRAMES}"
    caps = spec["caps"]
    if mode.startswith("live:"):
        source += " is-live=true"
        caps += f",framerate={int(mode[5:])}/1"
    pipeline = Gst.parse_launch(
        f"{source} ! {caps} ! "
        f"empycustom name=e custom-lib={library} in-place=true workers={workers} "
        f"worker-kind={spec['kind']} silent=true options=\"{options}\" ! fakesink name=sink "
        "sync=false"
    )
    element = pipeline.get_by_name("e")
    entered: dict[int, float] = {}
    latencies: list[float] = []
    outputs: list[tuple[str, bytes]] = []  # digested after the run, not in its threads
    warm: list[float] = []  # when the last warm-up frame left the element

    def on_sink(_pad, info):
        entered[info.get_buffer().pts] = time.perf_counter()
        return Gst.PadProbeReturn.OK

    def on_src(_pad, info):
        buffer = info.get_buffer()
        latencies.append(time.perf_counter() - entered.pop(buffer.pts))
        ok, info_map = buffer.map(Gst.MapFlags.READ)
        outputs.append((read_meta_json(buffer), bytes(info_map.data[:4096])))
        buffer.unmap(info_map)
        return Gst.PadProbeReturn.OK

    def on_warm_up(_pad, _info):
        warm.append(time.perf_counter())
        return Gst.PadProbeReturn.REMOVE if len(warm) == WARM_UP_FRAMES else Gst.PadProbeReturn.OK

    if mode == "fps":
        element.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_warm_up)
    else:
        element.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_sink)
        element.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_src)
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    ended = time.perf_counter()
    rendered = pipeline.get_by_name("sink").get_property("stats").get_value("rendered")
    pipeline.set_state(Gst.State.NULL)
    if message is None or message.type != Gst.MessageType.EOS:
        raise SystemExit(f"{case} workers={workers}: no EOS ({message})")
    result: dict[str, Any] = {"frames": rendered}
    if mode == "fps":
        result["fps"] = frames / (ended - warm[-1])
        return result
    digest = hashlib.sha1()
    for text, pixels in outputs:
        meta = json.loads(text)
        for frame in meta["frame"]:
            frame.pop("timestamp", None)
        digest.update(json.dumps(meta, sort_keys=True).encode())
        digest.update(hashlib.sha1(pixels).digest())
    steady = latencies[WARM_UP_FRAMES:]
    result.update(
        latency_ms_median=statistics.median(steady) * 1000,
        latency_ms_max=max(steady) * 1000,
        digest=digest.hexdigest(),
    )
    return result


def _child(case: str, workers: int, rounds: int, frames: int, library: str, mode: str) -> dict:
    return _run_json([sys.executable, __file__, "--child", case, str(workers), str(rounds),
                      str(frames), library, mode])  # fmt: skip


def _ceiling_child(case: str, rounds: int, frames: int, library: str) -> dict:
    return _run_json(
        [sys.executable, __file__, "--ceiling", case, str(rounds), str(frames), library]
    )


def _run_json(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _bare_call(case: str, library_path: str):
    """The case's library loaded outside any pipeline, and a function making a frame for it:
    (process_ip, make_frame() -> (buffer, in_meta))."""
    import importlib.util

    import numpy as np

    from empycustom.gst.runtime import Gst

    spec = importlib.util.spec_from_file_location("bare", library_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    caps = CASES[case]["caps"]
    width = int(caps.split("width=")[1].split(",")[0])
    height = int(caps.split("height=")[1].split(",")[0])

    def make_frame():
        buffer = Gst.Buffer.new_wrapped(np.zeros((height, width, 4), np.uint8).tobytes())
        plane = {"stride": width * 4, "offset": 0}
        frame = {"frame_num": 0, "format": "RGBA", "width": width, "height": height,
                 "planes": [plane]}  # fmt: skip
        in_meta = {"frame": [frame]}
        return buffer, in_meta

    return module.process_ip, make_frame


def run_ceiling(case: str, rounds: int, frames: int, library_path: str) -> dict:
    """What the machine allows, without GStreamer: frames per second of the library called
    on `frames` frames in one Python thread, then in two threads taking half each (the
    thread case) or in two processes taking half each (the process case: no GIL at all)."""
    import threading

    process_ip, make_frame = _bare_call(case, library_path)
    options = {"rounds": rounds}

    def work(count: int) -> None:
        buffer, in_meta = make_frame()
        for _ in range(count):
            process_ip(buffer, in_meta, options, {})

    work(2)  # warm-up
    began = time.perf_counter()
    work(frames)
    one = frames / (time.perf_counter() - began)
    began = time.perf_counter()
    if CASES[case]["kind"] == "process":
        children = []
        for _ in range(2):
            pid = os.fork()
            if pid == 0:  # the child: no GStreamer pipeline runs, nothing else is shared
                work(frames // 2)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
    else:
        threads = [threading.Thread(target=work, args=(frames // 2,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    two = 2 * (frames // 2) / (time.perf_counter() - began)
    return {"fps": {1: one, 2: two}}


def calibrate(case: str, library_path: str) -> int:
    """Rounds of the library's loop that take about the case's work_ms."""
    process_ip, make_frame = _bare_call(case, library_path)
    buffer, in_meta = make_frame()

    def cost(rounds: int) -> float:
        # The fastest of 9 calls: on a loaded machine the others include waiting for a CPU.
        samples = []
        for _ in range(9):
            began = time.perf_counter()
            process_ip(buffer, in_meta, {"rounds": rounds}, {})
            samples.append(time.perf_counter() - began)
        return min(samples) * 1000

    # The slope between two round counts: a call's fixed part (the frame, the copy of the
    # block, the count) is not a round's cost (cost(4) / 4 had made 10 ms frames take 6).
    target = CASES[case]["work_ms"]
    few, many = 8, 64
    fixed_and_few, fixed_and_many = cost(few), cost(many)
    per_round = max((fixed_and_many - fixed_and_few) / (many - few), 1e-6)
    fixed = max(fixed_and_few - few * per_round, 0.0)
    rounds = max(1, round((target - fixed) / per_round))
    return rounds


def check_calibration(case: str, rounds: int, library: str) -> tuple[int, float]:
    """(rounds, ms per frame): `rounds` corrected until frames take the case's work_ms at
    workers=1 in the pipeline (within 10%, at most 3 corrections). The bare-call calibration
    takes a few seconds; a machine slower or faster then than later gives frames shorter or
    longer than the case says (3 ms instead of 5 had been seen), and with them a larger or
    smaller share of the element's hand-over in each frame."""
    target = CASES[case]["work_ms"]
    for _ in range(3):
        frame_ms = 1000 / _child(case, 1, rounds, CALIBRATION_FRAMES, library, "fps")["fps"]
        if abs(frame_ms - target) <= 0.1 * target:
            break
        rounds = max(1, round(rounds * target / frame_ms))
    return rounds, frame_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cases", default="thread,process")
    parser.add_argument("--frames-scale", type=float, default=1.0)
    parser.add_argument("--output", default=str(HERE / "results_workers.json"))
    parser.add_argument(
        "--child", nargs=6, metavar=("CASE", "WORKERS", "ROUNDS", "FRAMES", "LIB", "MODE")
    )
    parser.add_argument("--ceiling", nargs=4, metavar=("CASE", "ROUNDS", "FRAMES", "LIB"))
    args = parser.parse_args(argv)
    if args.ceiling:
        case, rounds, frames, library = args.ceiling
        print(json.dumps(run_ceiling(case, int(rounds), int(frames), library)))
        return 0
    if args.child:
        case, workers, rounds, frames, library, mode = args.child
        result = run_child(case, int(workers), int(rounds), int(frames), library, mode)
        print(json.dumps(result))
        return 0

    folder = tempfile.mkdtemp(prefix="bench-workers-")
    report = {"load_before": os.getloadavg(), "cases": {}}
    failed = False
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for case in args.cases.split(","):
        spec = CASES[case]
        library = os.path.join(folder, f"{case}.py")
        Path(library).write_text(textwrap.dedent(spec["library"]))
        rounds, frame_ms = check_calibration(case, calibrate(case, library), library)
        frames = max(40, int(spec["frames"] * args.frames_scale))
        runs: dict[int, list[dict]] = {1: [], 2: []}
        ceilings: list[float] = []  # the machine's: the library in plain threads or processes
        pair_ratios: list[float] = []  # workers=2 over workers=1, run back to back
        for rep in range(args.reps):
            order = (1, 2) if rep % 2 == 0 else (2, 1)  # neither always runs first
            for workers in order:
                runs[workers].append(_child(case, workers, rounds, frames, library, "fps"))
            pair_ratios.append(runs[2][-1]["fps"] / runs[1][-1]["fps"])
            bare = _ceiling_child(case, rounds, frames, library)["fps"]
            ceilings.append(bare["2"] / bare["1"])
        fps = {w: statistics.median(r["fps"] for r in runs[w]) for w in runs}
        # Latency with a live source that workers=1 keeps up with (60% of its rate): the time
        # a frame spends in the element, without the queueing of a source that runs ahead.
        live_fps = max(1, int(fps[1] * 0.6))
        short = max(30, frames // 3)
        live = {w: _child(case, w, rounds, short, library, f"live:{live_fps}") for w in (1, 2)}
        latency = {w: live[w]["latency_ms_median"] for w in live}
        # Every frame's meta and pixels, from runs of their own (not live: a live source's
        # timestamps differ from run to run).
        checks = {w: _child(case, w, rounds, short, library, "check") for w in (1, 2)}
        # The machine's speed drifts over seconds (a shared VM): the ratio of two runs made
        # back to back is steadier than the ratio of medians taken minutes apart.
        ratio = statistics.median(pair_ratios)
        ratio_of_medians = fps[2] / fps[1]
        frame_time_ms = 1000 / fps[2]
        added = latency[2] - latency[1]
        identical = checks[1]["digest"] == checks[2]["digest"]
        complete = all(r["frames"] == frames + WARM_UP_FRAMES for w in runs for r in runs[w])
        report["cases"][case] = {"rounds": rounds, "calibrated_frame_ms": frame_ms,
                                 "runs": runs, "fps": fps, "ratio": ratio,
                                 "pair_ratios": pair_ratios,
                                 "ratio_of_medians": ratio_of_medians,
                                 "live_fps": live_fps, "live_runs": live,
                                 "latency_ms": latency, "added_latency_ms": added,
                                 "frame_time_ms_at_2": frame_time_ms,
                                 "identical": identical, "check_runs": checks,
                                 "complete": complete,
                                 "ceiling_runs": ceilings}  # fmt: skip
        each = {w: ", ".join(f"{r['fps']:.1f}" for r in runs[w]) for w in runs}
        print(
            f"{case:8} work {spec['work_ms']:.0f} ms/frame ({rounds} rounds: {frame_ms:.1f} ms a "
            f"frame at workers=1 when calibrated), {spec['caps']}: "
            f"workers=1 {fps[1]:.1f} fps, workers=2 {fps[2]:.1f} fps (medians: "
            f"{ratio_of_medians:.2f}x) -> {ratio:.2f}x, the median of the back-to-back pairs "
            f"({', '.join(f'{r:.2f}' for r in pair_ratios)}) (runs: {each[1]} | {each[2]})"
        )
        print(
            f"{'':8} latency in the element (median, live source at {live_fps} fps): "
            f"workers=1 {latency[1]:.1f} ms, "
            f"workers=2 {latency[2]:.1f} ms, added {added:.1f} ms; frame time at N=2 "
            f"{frame_time_ms:.1f} ms"
        )
        if ceilings:
            ceiling = statistics.median(ceilings)
            report["cases"][case]["ceiling"] = ceiling
            plain = "Python threads" if spec["kind"] == "thread" else "processes"
            share = (
                f"workers=2 reaches {(ratio - 1) / (ceiling - 1):.0%} of the speed-up it allows"
                if ceiling > 1.05
                else f"two {plain} got no second core: the machine was busy"
            )
            print(
                f"{'':8} the machine's ceiling for this work (the library in 1 and 2 plain "
                f"{plain}, no GStreamer): {ceiling:.2f}x (runs: "
                f"{', '.join(f'{c:.2f}' for c in ceilings)}); {share}"
            )
        checks = [
            (ratio >= spec["target"], f"{case}: workers=2 at least {spec['target']}x workers=1"),
            (added <= frame_time_ms, f"{case}: latency added at N=2 at most one frame time"),
            (identical, f"{case}: metas and pixels identical to workers=1"),
            (complete, f"{case}: every frame reached the sink in every run"),
        ]
        for ok, text in checks:
            failed |= not ok
            print(f"  {'PASS' if ok else 'FAIL'} {text}")
    report["load_after"] = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    Path(args.output).write_text(json.dumps(report, indent=1))
    return 0  # a benchmark: FAIL lines report, they do not fail make bench


if __name__ == "__main__":
    sys.exit(main())

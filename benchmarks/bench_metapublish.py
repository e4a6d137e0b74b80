"""What `metapublish` costs the pipeline per frame, with the broker up, down and slow
(`make bench` runs it after bench.py).

Each measurement runs in a fresh child process: `videotestsrc ! empycustom (a no-op library
returning a small dict) ! metapublish ! fakesink`, against the same pipeline without
metapublish. The figure is the CPU time of the streaming thread (from
/proc/self/task/TID/schedstat, in ns) per frame, over the baseline's: what publishing takes
from the thread that moves the frames. Also shown: wall-clock time per frame to EOS, and the
CPU time of the whole process (the publisher's own threads included). The brokers are real:
mosquitto and redis-server started here on free ports; "down" is a port nothing listens on,
"slow" a broker frozen with SIGSTOP for the whole run (connections open, nothing answered).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' broker processes

LIBRARY = HERE / "libraries" / "noop_dict.py"
SOURCE_NAME = "src"  # its streaming thread is named "src:src"
CASES = ("baseline", "file", "mqtt-up", "mqtt-down", "mqtt-slow",
         "redis-up", "redis-down", "redis-slow")  # fmt: skip


def thread_cpu_ns(name: str) -> int:
    """CPU time of this process's thread called `name` (the streaming thread)."""
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == name:
                return int((task / "schedstat").read_text().split()[0])
        except OSError:
            continue
    raise RuntimeError(f"no thread named {name}")


def child(broker: str | None, buffers: int) -> dict[str, float]:
    import empycustom
    from empycustom.gst.runtime import Gst

    empycustom.register()
    publish = f"metapublish broker={broker} stop-timeout=0 ! " if broker else ""
    pipeline = Gst.parse_launch(
        f"videotestsrc name={SOURCE_NAME} num-buffers={buffers} ! "
        "video/x-raw,width=64,height=48,format=RGBA ! "
        f"empycustom custom-lib={LIBRARY} in-place=true ! {publish}fakesink"
    )
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    stream_ns = thread_cpu_ns(f"{SOURCE_NAME}:src")
    if message is None or message.type != Gst.MessageType.EOS:
        raise SystemExit(f"the pipeline did not reach EOS: {message and message.parse_error()}")
    pipeline.set_state(Gst.State.NULL)
    process_cpu = sum(
        getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime")
    )
    return {
        "stream_us": stream_ns / 1000 / buffers,
        "wall_us": wall * 1e6 / buffers,
        "process_us": process_cpu * 1e6 / buffers,
    }


def run_child(broker: str | None, buffers: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", "--buffers", str(buffers)]
    if broker:
        command += ["--broker", broker]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        raise SystemExit(f"{broker}: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--buffers", type=int, default=3000, help="frames per run (default 3000)")
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        print(json.dumps(child(arguments.broker, arguments.buffers)))
        return 0
    if arguments.quick:
        arguments.reps, arguments.buffers = 1, 200

    from brokers import Mosquitto, RedisServer, free_port

    with tempfile.TemporaryDirectory(prefix="bench-metapublish-") as folder:
        mqtt, redis = Mosquitto(Path(folder) / "mqtt"), RedisServer(Path(folder) / "redis")
        mqtt.start()
        redis.start()
        down = free_port()
        uris = {
            "baseline": None,
            "file": f"file://{folder}/meta.jsonl",
            "mqtt-up": mqtt.uri("bench"), "mqtt-slow": mqtt.uri("bench"),
            "mqtt-down": f"mqtt://127.0.0.1:{down}/bench",
            "redis-up": redis.uri("bench"), "redis-slow": redis.uri("bench"),
            "redis-down": f"redis://127.0.0.1:{down}/bench",
        }  # fmt: skip
        results: dict[str, list[dict[str, float]]] = {case: [] for case in CASES}
        try:
            for _ in range(arguments.reps):
                for case in CASES:
                    frozen = {"mqtt-slow": mqtt, "redis-slow": redis}.get(case)
                    if frozen:
                        frozen.pause()
                    try:
                        results[case].append(run_child(uris[case], arguments.buffers))
                    finally:
                        if frozen:
                            frozen.resume()
        finally:
            mqtt.stop()
            redis.stop()
    print_table(results, arguments)
    return 0


def print_table(results: dict[str, list[dict[str, float]]], arguments) -> None:
    def median(case: str, key: str) -> float:
        return statistics.median(run[key] for run in results[case])

    print(f"\nmetapublish per-frame cost: {arguments.buffers} frames x {arguments.reps} runs, "
          f"medians; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| case | streaming thread cpu us/frame | over baseline | wall us/frame | "
          "process cpu us/frame |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: |")
    base = median("baseline", "stream_us")
    for case in CASES:
        stream = median(case, "stream_us")
        over = "(reference)" if case == "baseline" else f"{stream - base:.1f}"
        print(f"| {case} | {stream:.1f} | {over} | {median(case, 'wall_us'):.1f} | "
              f"{median(case, 'process_us'):.1f} |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

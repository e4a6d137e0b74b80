"""Micro-benchmark of the per-object metadata path, without a pipeline.

Times, on one buffer carrying N ROI metas (each with a `detection` param, as in the `rois-*`
cases): reading them into in_meta objects, writing one result per object back as ROI params,
and the merged meta's JSON. Prints the median microseconds per call and per object.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bench_cases import rois_template

from empycustom.gst.runtime import Gst
from empycustom.meta import objects
from empycustom.meta.outmeta import to_json

RESULT = {"label": "person", "score": 0.5}


def median_us(function: Callable[[], object], calls: int, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rois", type=int, default=200, help="ROI metas on the buffer")
    parser.add_argument("--calls", type=int, default=200, help="calls per repetition")
    parser.add_argument("--reps", type=int, default=7, help="repetitions (median)")
    arguments = parser.parse_args()

    buffer = Gst.Buffer.new()
    buffer.copy_into(rois_template(arguments.rois), Gst.BufferCopyFlags.META, 0, 0)
    results = [RESULT] * arguments.rois
    found, rois = objects.read_objects(buffer, {"person": 0})
    objects.write_results(rois, results)  # later reads also decode an "emcustom" param
    merged = {"frame": [{"object": [dict(obj, emcustom=RESULT) for obj in found]}]}

    timings = {
        "read_objects": lambda: objects.read_objects(buffer, {"person": 0}),
        "write_results": lambda: objects.write_results(rois, results),
        "to_json(merged)": lambda: to_json(merged),
    }
    print(f"{arguments.rois} ROIs, median of {arguments.reps} x {arguments.calls} calls")
    for name, function in timings.items():
        us = median_us(function, arguments.calls, arguments.reps)
        print(f"  {name:16} {us:9.1f} us/call {us / max(1, arguments.rois):7.3f} us/object")


if __name__ == "__main__":
    main()

"""Where empycustom spends its time per buffer: cProfile over the streaming thread.

    .venv/bin/python benchmarks/profile_element.py [--cases noop,rois-200] [--buffers 3000]

The case runs with a subclass of the element that switches cProfile on for each buffer's
Python work (the vfunc call itself, GIL and marshalling, is outside: compare the profiled total
with bench.py's overhead). Times are per buffer; the profiler inflates small Python functions,
so compare functions with each other and use bench.py for real costs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict
from dataclasses import replace

import bench_cases
from bench_cases import CASES_BY_NAME, ELEMENT_NAME, Case, build, run_case

from empycustom.elements.empycustom import EmPyCustom
from empycustom.gst.runtime import Gst

# Modules whose totals are listed (the element and its rules), by file name.
OWN_MODULES = ("element.py", "inmeta.py", "outmeta.py", "custom_meta.py", "merge.py", "debug.py")


class ProfiledEmPyCustom(EmPyCustom):
    """empycustom with the profiler switched on around each buffer's Python work.

    Switched on per buffer, the profile covers the element's work and nothing else that runs in
    the streaming thread (its first buffer only then keeps the thread's Python state).
    """

    __gtype_name__ = "GstEmPyCustomProfiled"
    profiler = cProfile.Profile()

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        self.profiler.enable()
        try:
            return EmPyCustom.do_transform_ip(self, buffer)
        finally:
            self.profiler.disable()

    def do_transform(self, inbuf: Gst.Buffer, outbuf: Gst.Buffer) -> Gst.FlowReturn:
        self.profiler.enable()
        try:
            return EmPyCustom.do_transform(self, inbuf, outbuf)
        finally:
            self.profiler.disable()


def profile_case(case: Case, buffers: int) -> pstats.Stats:
    ProfiledEmPyCustom.profiler = profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
    profiled = replace(
        case,
        middle=case.middle.replace(
            f"empycustom name={ELEMENT_NAME}", f"empycustomprofiled name={ELEMENT_NAME}"
        ),
    )
    pipeline = build(profiled, buffers)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    message = bus.timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if message is None or message.type != Gst.MessageType.EOS:
        raise SystemExit(f"case {case.name} did not reach EOS")
    return pstats.Stats(profiler)


def _location(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":  # built-ins and C methods
        return function
    name = os.path.basename(filename)
    if name == "__init__.py":  # which package's
        name = os.path.join(os.path.basename(os.path.dirname(filename)), name)
    return f"{name}:{line}({function})"


def print_profile(stats: pstats.Stats, buffers: int, top: int) -> None:
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)
    print(f"  {'tottime us/buf':>14} {'cumtime us/buf':>14} {'calls/buf':>9}  function")
    for key, (_primitive, calls, tottime, cumtime, _callers) in rows[:top]:
        print(
            f"  {tottime / buffers * 1e6:14.2f} {cumtime / buffers * 1e6:14.2f} "
            f"{calls / buffers:9.2f}  {_location(key)}"
        )
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, _function), (_p, _c, tottime, _ct, _callers) in stats.stats.items():
        name = os.path.basename(filename)
        if name in OWN_MODULES:
            totals[name] += tottime
    total = sum(row[2] for row in stats.stats.values())
    print(f"  own time per module (us/buffer), of {total / buffers * 1e6:.1f} profiled:")
    for name, tottime in sorted(totals.items(), key=lambda item: item[1], reverse=True):
        print(f"    {name:16} {tottime / buffers * 1e6:8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cProfile the empycustom element per buffer.")
    parser.add_argument("--cases", default="noop,rois-200", help="comma-separated case names")
    parser.add_argument("--buffers", type=int, default=3000, help="buffers per small case")
    parser.add_argument("--top", type=int, default=25, help="functions listed per case")
    arguments = parser.parse_args(argv)
    bench_cases.register()
    Gst.Element.register(None, "empycustomprofiled", Gst.Rank.NONE, ProfiledEmPyCustom)
    for name in arguments.cases.split(","):
        case = CASES_BY_NAME.get(name.strip())
        if case is None or not case.is_empycustom:
            raise SystemExit(f"--cases: {name!r} is not an empycustom case of bench_cases")
        buffers = case.buffers(arguments.buffers)
        plain = run_case(case, buffers)
        stats = profile_case(case, buffers)
        print(f"\n{case.name}: {case.what}")
        print(
            f"  {buffers} buffers; without the profiler {plain.cpu_us:.1f} us/buffer CPU "
            f"(element + pipeline); objects per buffer seen by the library: {plain.objects_seen}"
        )
        print_profile(stats, buffers, arguments.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Instructions per buffer under callgrind: the overheads of `make bench`, without the noise.

`make bench` times CPU seconds, which swing by tens of percent on a shared machine. callgrind
counts the instructions a process executes: the same number for the same code and input,
whatever else the machine does. Each case runs in a child process under
`valgrind --tool=callgrind --separate-threads=yes`, once with a few buffers and once with
`--buffers` more, and only the pipeline's threads are counted (every thread but the main one,
which imports, builds the pipeline and waits on the bus: its count moved by millions between
runs, enough to double a floor's per-buffer figure) and numpy's OpenBLAS thread pool is not
started (its idle threads spin); the difference divided by `--buffers` is the cost per buffer,
stream start and end cancelled out. Hash randomization is off (PYTHONHASHSEED=0) and what
start-up made is frozen out of the cyclic collector (see run_child). Two runs then agree
within a few instructions per buffer. Instructions are not time (a cache miss costs more than
an add), so this complements the timed benchmark; it does not replace it.

    .venv/bin/python benchmarks/instructions.py [--cases noop,skip] [--buffers 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_cases import CASES_BY_NAME, modelpipe_classes  # noqa: E402

# The cases issue 15's targets compare (their careful baselines are added), and the naive
# baselines for information. mean-1080p is here because its time is 98% the library's numpy
# mean, the same call as its baseline's: a difference of 0.1% is far below the timed noise.
DEFAULT_CASES = (
    "noop", "noop-dict", "frame-read", "frame-write", "skip", "noop-silent",
    "transform-ip-floor", "pad-probe",
    "out-meta-dict-1k", "out-meta-text-1k", "out-meta-dict-100k", "out-meta-text-100k",
    "out-meta-pylit-1k", "out-meta-pylit-100k", "mean-1080p",
)  # fmt: skip
# out_meta as text (JSON, or str(list)'s Python literal) against the same content as a dict
# (bench.py's target).
TEXT_OVER_DICT_LIMIT = 1.5
FEW_BUFFERS = 100
# No hash randomization; no OpenBLAS thread pool (numpy's), whose idle threads spin for as
# long as the run lasts and would count millions of instructions that vary with time.
CHILD_ENVIRONMENT = {"PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help="comma-separated")
    parser.add_argument("--buffers", type=int, default=5000, help="buffers counted per case")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("instructions.json")
    )
    parser.add_argument("--run", nargs=2, metavar=("CASE", "BUFFERS"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_child(case: str, buffers: int) -> None:
    """In the child: run one case's pipeline to EOS (under callgrind).

    What start-up made is frozen out of the cyclic collector first: a full collection of it
    (millions of instructions) would otherwise land in a streaming thread at a moment that
    differs from run to run. Collections of what the buffers make still run and count.
    """
    import gc

    import bench_cases

    bench_cases.register()
    gc.collect()
    gc.freeze()
    bench_cases.run_case(CASES_BY_NAME[case], buffers)


def count_instructions(case: str, buffers: int) -> int:
    """Instructions the pipeline's threads of `case` execute with `buffers` buffers."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        out = Path(folder, "callgrind.out")
        command = [
            "valgrind", "--tool=callgrind", "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            sys.executable, os.path.abspath(__file__), "--run", case, str(buffers),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                                env={**os.environ, **CHILD_ENVIRONMENT})  # fmt: skip
        threads = sorted(Path(folder).glob("callgrind.out-*"))  # -01 is the main thread
        if result.returncode != 0 or len(threads) < 2:
            raise RuntimeError(f"{case}: callgrind run failed:\n{result.stderr[-2000:]}")
        return sum(int(SUMMARY.search(path.read_text()).group(1)) for path in threads[1:])


def per_buffer(case: str, buffers: int) -> float:
    with ThreadPoolExecutor(max_workers=2) as pool:
        few, many = pool.map(
            lambda n: count_instructions(case, n), (FEW_BUFFERS, FEW_BUFFERS + buffers)
        )
    return (many - few) / buffers


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.run:
        run_child(arguments.run[0], int(arguments.run[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 1
    names = [name.strip() for name in arguments.cases.split(",") if name.strip()]
    for name in list(names):  # the like-for-like baselines and the peers of the cases
        case = CASES_BY_NAME[name]
        for other in (case.careful, case.peer):
            if other is not None and other not in names:
                names.insert(0, other)
    skipped = []
    if not isinstance(modelpipe_classes(), dict):
        skipped = [name for name in names if CASES_BY_NAME[name].needs == "modelpipe"]
        names = [name for name in names if name not in skipped]
    for name in list(names):
        case = CASES_BY_NAME[name]
        while case.baseline is not None and case.baseline not in names:
            names.insert(0, case.baseline)
            case = CASES_BY_NAME[case.baseline]
    counts = {
        name: per_buffer(name, CASES_BY_NAME[name].buffers(arguments.buffers)) for name in names
    }
    overhead = {
        name: counts[name] - counts[CASES_BY_NAME[name].baseline]
        for name in names
        if CASES_BY_NAME[name].baseline is not None
    }
    print("| case | instructions/buffer | overhead | like-for-like baseline | x baseline | "
          "x modelpipe |")  # fmt: skip
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for name in names:
        case, extra = CASES_BY_NAME[name], overhead.get(name)
        ratios = [
            f"{extra / overhead[other]:.2f}x" if extra is not None and other in overhead else ""
            for other in (case.careful, case.peer)
        ]
        print(f"| {name} | {counts[name]:,.0f} | {'' if extra is None else f'{extra:,.0f}'} | "
              f"{case.careful or ''} | {ratios[0]} | {ratios[1]} |")  # fmt: skip
    for name in skipped:
        print(f"| {name} | not run: modelpipe is not installed | | | | |")
    targets = []
    for name in names:
        case = CASES_BY_NAME[name]
        for other, limit, words in ((case.careful, 1.2 if name == "skip" else 1.0, "<="),
                                    (case.peer, 1.0, "< modelpipe's")):  # fmt: skip
            if other in overhead and name in overhead and overhead[other] > 0:
                value = overhead[name] / overhead[other]
                passed = value < limit if case.peer == other else value <= limit
                targets.append((f"{name} {words} {limit}x {other}", value, limit, passed))
    for name in names:
        as_dict = re.sub(r"^out-meta-(text|pylit)-", "out-meta-dict-", name)
        if as_dict != name and as_dict in overhead and overhead[as_dict] > 0:
            value = overhead[name] / overhead[as_dict]
            targets.append((f"{name} <= {TEXT_OVER_DICT_LIMIT}x {as_dict}", value,
                            TEXT_OVER_DICT_LIMIT, value <= TEXT_OVER_DICT_LIMIT))  # fmt: skip
    for target, value, _limit, passed in targets:
        print(f"{'PASS' if passed else 'FAIL'}: {target} (instructions): {value:.4f}x")
    arguments.output.write_text(
        json.dumps({"buffers": arguments.buffers, "instructions_per_buffer": counts,
                    "overhead": overhead,
                    "targets": [{"target": n, "value": v, "limit": lim, "passed": ok}
                                for n, v, lim, ok in targets]},
                   indent=2) + "\n"
    )  # fmt: skip
    print(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

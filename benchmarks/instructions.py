"""Instructions per buffer under callgrind: the overheads of `make bench`, without the noise.

`make bench` times CPU seconds, which swing by tens of percent on a shared machine. callgrind
counts the instructions a process executes: the same number for the same code and input,
whatever else the machine does. Each case runs in a child process under
`valgrind --tool=callgrind`, once with a few buffers and once with `--buffers` more; the
difference divided by `--buffers` is its cost per buffer, start-up and shutdown cancelled out.
Instructions are not time (a cache miss costs more than an add), so this complements the timed
benchmark; it does not replace it.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_cases import CASES_BY_NAME  # noqa: E402

# The cases the targets of issue 6 compare, with their baselines.
DEFAULT_CASES = (
    "identity", "transform-ip-floor", "pad-probe", "pad-probe-kept-state", "noop", "noop-silent",
    "skip",
)  # fmt: skip
PAD_PROBE, FLOOR = "pad-probe", "transform-ip-floor"
FEW_BUFFERS = 100
COLLECTED = re.compile(r"Collected : (\d+)")


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
    """In the child: run one case's pipeline to EOS (under callgrind)."""
    import bench_cases

    bench_cases.register()
    bench_cases.run_case(CASES_BY_NAME[case], buffers)


def count_instructions(case: str, buffers: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, os.path.abspath(__file__), "--run", case, str(buffers),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    match = COLLECTED.search(result.stderr)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"{case}: callgrind run failed:\n{result.stderr[-2000:]}")
    return int(match.group(1))


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
    for name in names:
        case = CASES_BY_NAME[name]
        while case.baseline is not None and case.baseline not in names:
            names.insert(0, case.baseline)
            case = CASES_BY_NAME[case.baseline]
    counts = {name: per_buffer(name, arguments.buffers) for name in names}
    overhead = {
        name: counts[name] - counts[CASES_BY_NAME[name].baseline]
        for name in names
        if CASES_BY_NAME[name].baseline is not None
    }
    print("| case | instructions/buffer | overhead | x pad-probe | x floor |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        extra = overhead.get(name)
        ratios = [
            f"{extra / overhead[base]:.2f}" if extra is not None and base in overhead else ""
            for base in (PAD_PROBE, FLOOR)
        ]
        print(f"| {name} | {counts[name]:,.0f} | {'' if extra is None else f'{extra:,.0f}'} | "
              f"{ratios[0]} | {ratios[1]} |")  # fmt: skip
    targets = []
    if {"noop", PAD_PROBE} <= overhead.keys():
        targets.append(("noop <= 1.3x pad-probe", overhead["noop"] / overhead[PAD_PROBE], 1.3))
    if {"skip", FLOOR} <= overhead.keys():
        targets.append(("skip <= 1.2x transform_ip floor", overhead["skip"] / overhead[FLOOR], 1.2))
    for name, value, limit in targets:
        print(f"{'PASS' if value <= limit else 'FAIL'}: {name} (instructions): {value:.2f} x")
    arguments.output.write_text(
        json.dumps({"buffers": arguments.buffers, "instructions_per_buffer": counts,
                    "overhead": overhead,
                    "targets": [{"target": n, "value": v, "limit": lim} for n, v, lim in targets]},
                   indent=2) + "\n"
    )  # fmt: skip
    print(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

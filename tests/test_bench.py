"""`make bench` end to end in its --quick form: every case runs and reports numbers.

The benchmark is not a timed test: these tests check the instrument, not the element's speed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import instructions  # noqa: E402
from bench_cases import CASES  # noqa: E402

TARGET_STATUSES = {"PASS", "FAIL", "N/A", "INFO"}


def run_bench(tmp_path: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench.py"), "--quick", "--output", str(output),
         *arguments],
        capture_output=True, text=True, timeout=1100,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed, json.loads(output.read_text())


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.timeout(1200)  # ~1 minute idle; 45 cases twice, each a child process
def test_quick_run_measures_every_case(tmp_path):
    completed, results = run_bench(tmp_path)
    # Every case ran, but modelpipe's where it is not installed (a clean clone's make test).
    assert set(results["cases"]) | set(results["not_run"]) == {case.name for case in CASES}
    assert not set(results["cases"]) & set(results["not_run"])
    for name, case in results["cases"].items():
        assert len(case["cpu_us_per_buffer_runs"]) == 2, name
        assert len(case["wall_us_per_buffer_runs"]) == 2, name
        assert all(value > 0 for value in case["cpu_us_per_buffer_runs"]), name
        assert finite(case["us_per_buffer"]) and finite(case["overhead_us"]), name
        if case["careful"] is not None:  # paired with the same work written by hand
            careful = results["cases"][case["careful"]]
            assert careful["baseline"] is not None, name
            # No ratio over a baseline that cost nothing (100 buffers can measure <= 0).
            assert finite(case["ratio_to_careful"]) or careful["overhead_us"] <= 0, name
    # Every object the library saw got its result merged back.
    for name in ("rois-1", "rois-20", "rois-200", "rois-1000"):
        case = results["cases"][name]
        assert case["results_merged"] == case["objects_seen"] == case["rois_attached"], name
    assert all(finite(value) for value in results["derived"].values())
    assert {"per_object_us_at_200", "per_object_us_200_to_1000", "frame_copy_1080p_us",
            "read_pass_1080p_us"} <= set(results["derived"])  # fmt: skip
    statuses = [target["status"] for target in results["targets"]]
    assert set(statuses) <= TARGET_STATUSES
    paired = [name for name, case in results["cases"].items() if case["careful"]]
    assert {"noop", "noop-dict", "frame-read", "frame-write", "skip", "mean-1080p"} <= set(paired)
    targets = " ".join(target["target"] for target in results["targets"])
    for name in paired:
        assert f"{name}: overhead <= " in targets, name
    # Timed, the like-for-like targets are judged on 64x48 (issue 15); at 1080p, where the same
    # numpy call takes nearly all the time, instruction counts judge them.
    like_for_like = {target["target"].split(":")[0]: target for target in results["targets"]
                     if ": overhead <= " in target["target"]}  # fmt: skip
    assert like_for_like["mean-1080p"]["status"] in {"INFO", "N/A"}
    assert "make bench-instructions judges" in like_for_like["mean-1080p"]["note"]
    assert "mean-1080p" in instructions.DEFAULT_CASES
    assert all(like_for_like[name]["status"] != "INFO" for name in paired if name != "mean-1080p")
    assert "out_meta as text, 100kB" in targets and "per object stays linear" in targets
    assert "out_meta as str(list) text, 100kB" in targets
    assert results["machine"]["gstreamer"].startswith("GStreamer 1.")
    # modelpipe: measured when it is installed, otherwise its rows say why not.
    peers = {"modelpipe-noop", "modelpipe-result", "modelpipe-frame-write"}
    if results["machine"]["modelpipe"]:
        assert peers <= set(results["cases"])
        assert finite(results["cases"]["frame-write"]["ratio_to_peer"])
    else:
        assert set(results["not_run"]) == peers
        assert "not installed" in completed.stdout
    # The same results as tables and PASS/FAIL lines on stdout.
    assert "| noop |" in completed.stdout and "| probe-meta |" in completed.stdout
    assert "| objects, one result each | 1000 objects |" in completed.stdout
    assert sum(line.lstrip().startswith(tuple(TARGET_STATUSES)) for line in
               completed.stdout.splitlines()) == len(statuses)  # fmt: skip


@pytest.mark.timeout(1200)
def test_case_filter_adds_the_baselines_it_needs(tmp_path):
    _, results = run_bench(tmp_path, "--cases", "rois-20,frame-write")
    expected = {"identity", "rois-20", "rois-20-identity", "frame-write", "transform-frame-write"}
    assert expected <= set(results["cases"]) | set(results["not_run"])
    assert "modelpipe-frame-write" in set(results["cases"]) | set(results["not_run"])  # its peer
    per_object = [t for t in results["targets"] if t["target"].startswith("per object")]
    assert per_object[0]["status"] == "N/A"  # rois-200 and rois-0 were not run


def test_unknown_case_is_refused_by_name(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench.py"), "--quick", "--cases", "nosuchcase",
         "--output", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode != 0
    assert "nosuchcase" in completed.stderr
    assert not (tmp_path / "r.json").exists()


@pytest.mark.timeout(1200)  # six runs under valgrind: minutes on a loaded machine
def test_instruction_counts_under_callgrind(tmp_path):
    """benchmarks/instructions.py: each case under callgrind, per-buffer counts and ratios."""
    output = tmp_path / "instructions.json"
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "instructions.py"), "--cases", "skip", "--buffers",
         "100", "--output", str(output)],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads(output.read_text())
    counts = results["instructions_per_buffer"]
    # The baselines were added: identity (the reference) and the careful floor (skip's pair).
    assert set(counts) == {"identity", "transform-ip-floor-careful", "skip"}
    # Only the pipeline's threads are counted, so even 100 buffers give sane per-buffer figures
    # (counting the whole process, start-up noise was millions of instructions).
    assert all(1_000 < count < 200_000 for count in counts.values()), counts
    assert results["overhead"]["skip"] == counts["skip"] - counts["identity"]
    assert 0 < results["overhead"]["skip"] < 100_000
    assert "| skip |" in completed.stdout
    assert any(line.startswith(("PASS: skip", "FAIL: skip")) for line in
               completed.stdout.splitlines())  # fmt: skip

"""The reference's template under the default in-place=false: process() returns None for the
buffer, so every frame is dropped, as in the reference, but not without a word."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline import gst_environment

REFERENCE_TEMPLATE = Path(__file__).parent / "data" / "reference" / "new_lib.py"


def source(frames: int) -> str:
    return f"videotestsrc num-buffers={frames} ! video/x-raw,format=RGBA,width=64,height=48"


def test_frames_dropped_by_process_are_reported_once(pipeline):
    result = pipeline(
        f"{source(5)} ! empycustom custom-lib={REFERENCE_TEMPLATE} ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert result.frames == []  # the reference's behaviour is kept
    dropped = [text for text, _debug in result.warnings if "returned no buffer" in text]
    assert len(dropped) == 1, result.warnings  # once, not per frame
    assert str(REFERENCE_TEMPLATE) in dropped[0] and "frames are being dropped" in dropped[0]


def test_frames_dropped_with_workers_are_reported_once(pipeline):
    result = pipeline(
        f"{source(6)} ! empycustom custom-lib={REFERENCE_TEMPLATE} workers=2 ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert result.frames == []
    assert len([text for text, _ in result.warnings if "returned no buffer" in text]) == 1


def test_a_library_that_passes_frames_on_gets_no_warning(pipeline, write_library):
    lib = write_library("def process(b, m, o, e):\n    return b, ''\n")
    result = pipeline(f"{source(3)} ! empycustom custom-lib={lib} ! appsink name=sink")
    assert result.eos and len(result.frames) == 3
    assert result.warnings == []


def test_check_reports_the_dropped_frames():
    result = subprocess.run(
        [str(Path(gst_environment()["VIRTUAL_ENV"]) / "bin" / "empycustom"), "check",
         str(REFERENCE_TEMPLATE), "--not-in-place"],
        capture_output=True, text=True, timeout=120, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "did not come out (dropped)" in result.stdout
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1 and "returned no buffer" in problems[0], result.stdout
    assert "frames are being dropped" in problems[0]

"""`empycustom demo`: a clip of the bundled photograph in which the faces move, found, measured,
drawn and encoded; a progress bar, a summary table; per-frame JSON in the JSON-lines file."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from pipeline import ASTRONAUT_FACES, faces_source, gst_environment, run_pipeline

from empycustom.cli.clip import CLIP_HEIGHT, CLIP_WIDTH, clip_placement
from empycustom.cli.demo import progress_line, summary_table
from empycustom.examples import example_path

FRAMES = 30


def empycustom_command(*arguments: object) -> list[str]:
    executable = os.path.join(gst_environment()["VIRTUAL_ENV"], "bin", "empycustom")
    return [executable, *map(str, arguments)]


def demo_environment() -> dict[str, str]:
    """As a user's shell has it: no OPENCV_LOG_LEVEL hiding OpenCV's messages."""
    env = gst_environment()
    env.pop("OPENCV_LOG_LEVEL", None)
    return env


def decode_video(path) -> list[np.ndarray]:
    """Re-decode an MP4 file to RGB frames (the demo's output must be playable)."""
    result = run_pipeline(
        f"filesrc location={path} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! "
        "video/x-raw,format=RGBA ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    return [
        np.frombuffer(frame.data, np.uint8).reshape(CLIP_HEIGHT, CLIP_WIDTH, 4)[:, :, :3]
        for frame in result.frames
    ]


def photo_faces() -> list[tuple[int, int, int, int]]:
    """The faces facedetect finds in the photograph itself, as (left, top, width, height)."""
    result = run_pipeline(
        f"{faces_source(ASTRONAUT_FACES, 1)} ! empycustom name=e "
        f"custom-lib={example_path('average_intensity.py')} in-place=true ! fakesink"
    )
    assert result.eos, result.error_texts
    faces = result.signals[0]["frame"][0]["object"]
    assert len(faces) == 3
    return [box_of(face) for face in faces]


def box_of(obj: dict) -> tuple[int, int, int, int]:
    rect = obj["rect_params"]
    return rect["left"], rect["top"], rect["width"], rect["height"]


def overlap(a, b) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(right - left, 0) * max(bottom - top, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def is_green(pixels: np.ndarray) -> np.ndarray:
    pixels = pixels.astype(int)
    return (pixels[..., 1] > 150) & (pixels[..., 1] - pixels[..., [0, 2]].max(axis=-1) > 80)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        empycustom_command("demo", "--frames", FRAMES, "--output", folder / "out"),
        capture_output=True, text=True, timeout=300, env=demo_environment(), cwd=folder,
    )  # fmt: skip
    return result, folder / "out"


def test_demo_runs_cleanly_and_keeps_the_json_off_the_terminal(demo_run):
    result, out = demo_run
    assert result.returncode == 0, result.stderr
    assert "[ERROR" not in result.stderr and "CRITICAL" not in result.stderr, result.stderr
    assert "haarcascade" not in result.stderr
    assert result.stdout == ""  # per-frame JSON only when asked (--print-json)
    lines = (out / "demo.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"][0]["frame_num"] for line in lines] == list(range(FRAMES))
    # A progress bar (not a terminal here: a line every few seconds, and the final one).
    assert f"[{'#' * 30}] {FRAMES}/{FRAMES} frames" in result.stderr
    # The summary table.
    table = result.stderr[result.stderr.index("empycustom demo: done") :]
    for row in ("frames", "objects", "fps", "facedetect (ms/frame)", "measure (ms/frame)",
                "overlay (ms/frame)"):  # fmt: skip
        assert f"\n  {row} " in table, table
    assert f"  frames                 {FRAMES}\n" in table
    assert f"video                  {out / 'demo.mp4'}" in table
    assert f"JSON lines             {out / 'demo.jsonl'}" in table


def test_demo_faces_move_and_their_boxes_are_in_the_video(demo_run):
    result, out = demo_run
    assert result.returncode == 0, result.stderr
    metas = [json.loads(line) for line in (out / "demo.jsonl").read_text().splitlines()]
    frames = decode_video(out / "demo.mp4")
    assert len(frames) == FRAMES
    faces = photo_faces()
    found_all = 0
    centres = []
    for index, (meta, image) in enumerate(zip(metas, frames, strict=True)):
        frame = meta["frame"][0]
        assert (frame["width"], frame["height"]) == (CLIP_WIDTH, CLIP_HEIGHT)
        place = clip_placement(index, FRAMES, (520, 200))
        expected = [place.box(*face) for face in faces]
        boxes = [box_of(obj) for obj in frame["object"]]
        # Every face found is one of the photograph's faces where the clip moved it.
        for box in boxes:
            assert max(overlap(box, face) for face in expected) > 0.5, (index, box, expected)
        if len(boxes) == 3:
            found_all += 1
        for obj, box in zip(frame["object"], boxes, strict=True):
            left, top, width, height = box
            # The overlay drew the box: its left edge is green in the decoded video ...
            edge = image[top + 5 : top + height - 5, left]
            assert is_green(edge).mean() > 0.8, (index, box)
            # ... and the result on a filled green label just above it.
            assert 0 < obj["params"]["emcustom"]["average_intensity"] < 255
            label = image[max(top - 12, 0) : max(top - 2, 1), left + 2 : left + 40]
            assert is_green(label).mean() > 0.3, (index, box)
        centres.append(np.mean([(b[0] + b[2] / 2, b[1] + b[3] / 2) for b in boxes], axis=0))
    assert found_all >= 0.9 * FRAMES
    centres = np.array(centres)
    # The faces travel across the frame and change size.
    assert np.ptp(centres[:, 0]) > 100 and np.ptp(centres[:, 1]) > 60
    sizes = [obj["rect_params"]["width"] for meta in metas for obj in meta["frame"][0]["object"]]
    assert max(sizes) > 1.25 * min(sizes)


def test_demo_prints_the_json_when_asked(tmp_path, write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return [{'seen': True}] * 3\n")
    result = subprocess.run(
        empycustom_command("demo", "--frames", "3", "--lib", lib, "--output", tmp_path,
                           "--print-json", "--quiet"),
        capture_output=True, text=True, timeout=300, env=demo_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    lines = [json.loads(line) for line in (tmp_path / "demo.jsonl").read_text().splitlines()]
    assert printed == lines and len(lines) == 3
    faces = lines[0]["frame"][0]["object"]
    assert [face["params"]["emcustom"] for face in faces] == [{"seen": True}] * 3
    assert "frames]" not in result.stderr and "] 3/3 frames" not in result.stderr  # --quiet
    assert "  frames                 3\n" in result.stderr


def test_demo_on_a_clip_without_faces_keeps_the_frame_result(tmp_path):
    """The measuring element's frame result passes the overlay element into demo.jsonl."""
    picture = tmp_path / "no-faces.png"
    made = run_pipeline(
        "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=160,height=120 ! "
        f"pngenc ! filesink location={picture}"
    )
    assert made.eos, made.error_texts
    result = subprocess.run(
        empycustom_command("demo", "--input", picture, "--frames", "3", "--output", tmp_path),
        capture_output=True, text=True, timeout=300, env=demo_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / "demo.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    for meta in lines:
        frame = meta["frame"][0]
        assert frame["object"] == []
        assert 0 < frame["emcustom"]["average_intensity"] < 255


def test_demo_missing_input_fails_clearly(tmp_path):
    result = subprocess.run(
        empycustom_command("demo", "--input", tmp_path / "nope.mp4", "--output", tmp_path / "o"),
        capture_output=True, text=True, timeout=60, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 1
    assert "nope.mp4' does not exist" in result.stderr
    assert not (tmp_path / "o").exists()


def test_clip_placement_keeps_the_photograph_inside_the_frame():
    for index in range(90):
        place = clip_placement(index, 90, (520, 200))
        left, top, width, height = place.box(0, 0, 520, 200)
        assert left >= 0 and top >= 0
        assert left + width <= CLIP_WIDTH + 1e-9 and top + height <= CLIP_HEIGHT + 1e-9
    first, middle = clip_placement(0, 90, (520, 200)), clip_placement(45, 90, (520, 200))
    assert middle.scale > 1.3 * first.scale


def test_progress_line_and_summary_table():
    assert progress_line(45, 90, 2.0, width=10) == "[#####.....] 45/90 frames  22.5 fps  0:02 left"
    assert progress_line(0, 90, 0.0, width=4) == "[....]  0/90 frames  0.0 fps  --:-- left"
    assert progress_line(12, None, 3.0) == "12 frames  4.0 fps  0:03"
    assert summary_table([("frames", "9"), ("JSON lines", "/x")]) == (
        "  frames      9\n  JSON lines  /x"
    )


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_demo_with_workers_gives_the_same_meta(demo_run, tmp_path, kind):
    _result, out = demo_run
    result = subprocess.run(
        empycustom_command("demo", "--frames", FRAMES, "--output", tmp_path, "--quiet",
                           "--workers", 2, "--worker-kind", kind),
        capture_output=True, text=True, timeout=300, env=demo_environment(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CRITICAL" not in result.stderr and "WARNING" not in result.stderr, result.stderr

    def metas(path):
        frames = [json.loads(line)["frame"][0] for line in path.read_text().splitlines()]
        for frame in frames:
            frame.pop("timestamp")
            # facedetect's OpenCV lists the same faces in an order that varies from run to run
            frame["object"].sort(key=lambda o: json.dumps(o["rect_params"], sort_keys=True))
        return frames

    alone, with_workers = metas(out / "demo.jsonl"), metas(tmp_path / "demo.jsonl")
    assert len(with_workers) == FRAMES and sum(len(f["object"]) for f in with_workers) > FRAMES
    assert with_workers == alone

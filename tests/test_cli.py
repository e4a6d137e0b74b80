"""The `empycustom` command line: plugin-path, launch (with Ctrl-C), demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from pipeline import gst_environment


def empycustom_command(*arguments: object) -> list[str]:
    executable = os.path.join(gst_environment()["VIRTUAL_ENV"], "bin", "empycustom")
    return [executable, *map(str, arguments)]


def test_plugin_path_holds_the_loader_files():
    result = subprocess.run(empycustom_command("plugin-path"), capture_output=True, text=True)
    assert result.returncode == 0
    folder = result.stdout.strip()
    assert "empycustom_element.py" in os.listdir(os.path.join(folder, "python"))


def test_launch_runs_to_eos(write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return [{'ok': 1}]\n")
    result = subprocess.run(
        empycustom_command("launch", "videotestsrc", "num-buffers=3", "!", "empycustom",
                           f"custom-lib={lib}", "in-place=true", "!", "fakesink"),
        capture_output=True, text=True, timeout=60, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CRITICAL" not in result.stderr


def test_launch_ctrl_c_ends_with_eos(write_library, tmp_path):
    record = tmp_path / "stopped"
    lib = write_library(
        f"def stop(options):\n    open({str(record)!r}, 'w').write('stopped')\n"
        "def process_ip(b, m, o, e):\n    return ''\n"
    )
    output = tmp_path / "out.raw"
    process = subprocess.Popen(
        empycustom_command("launch", "videotestsrc", "is-live=true", "!",
                           "video/x-raw,width=16,height=16,framerate=30/1", "!", "empycustom",
                           f"custom-lib={lib}", "in-place=true", "!", "filesink",
                           f"location={output}"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gst_environment(),
    )  # fmt: skip
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "sending EOS" in stderr
    assert record.read_text() == "stopped"
    assert output.stat().st_size > 0


def test_launch_bad_pipeline_fails():
    result = subprocess.run(
        empycustom_command("launch", "no_such_element_xyz", "!", "fakesink"),
        capture_output=True, text=True, timeout=60, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 1
    assert "no_such_element_xyz" in result.stderr


def decode_video(path) -> list[bytes]:
    """Re-decode an MP4 file to RGBA frames (the demo's output must be playable)."""
    from pipeline import run_pipeline

    result = run_pipeline(
        f"filesrc location={path} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! "
        "video/x-raw,format=RGBA ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    return [frame.data for frame in result.frames]


def test_demo_on_the_default_input(tmp_path):
    result = subprocess.run(
        empycustom_command("demo", "--frames", "8", "--output", str(tmp_path)),
        capture_output=True, text=True, timeout=300, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    lines = [json.loads(line) for line in (tmp_path / "demo.jsonl").read_text().splitlines()]
    assert printed == lines
    assert [meta["frame"][0]["frame_num"] for meta in lines] == list(range(8))
    for meta in lines:
        faces = meta["frame"][0]["object"]
        assert len(faces) == 3  # the bundled photograph shows three faces
        assert all(0 < face["params"]["emcustom"]["average_intensity"] < 255 for face in faces)
    assert '"frames": 8, "objects": 24' in result.stderr
    frames = decode_video(tmp_path / "demo.mp4")
    assert len(frames) == 8
    # The overlay drew a green box: the box's left edge column is green in the decoded video.
    import numpy as np

    image = np.frombuffer(frames[0], np.uint8).reshape(200, 520, 4)
    face = lines[0]["frame"][0]["object"][0]["rect_params"]
    edge = image[face["top"] + 10 : face["top"] + face["height"] - 10, face["left"], :3].astype(int)
    assert (edge[:, 1] - edge[:, [0, 2]].max(axis=1) > 100).mean() > 0.8


def test_demo_with_another_library(tmp_path, write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return [{'seen': True}] * 3\n")
    result = subprocess.run(
        empycustom_command("demo", "--frames", "2", "--lib", lib, "--output", str(tmp_path)),
        capture_output=True, text=True, timeout=300, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "demo.jsonl").read_text().splitlines()
    faces = json.loads(lines[0])["frame"][0]["object"]
    assert [face["params"]["emcustom"] for face in faces] == [{"seen": True}] * 3


def test_demo_on_a_clip_without_faces_keeps_the_frame_result(tmp_path):
    """The measuring element's frame result passes the overlay element into demo.jsonl."""
    from pipeline import run_pipeline

    picture = tmp_path / "no-faces.png"
    made = run_pipeline(
        "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=160,height=120 ! "
        f"pngenc ! filesink location={picture}"
    )
    assert made.eos, made.error_texts
    result = subprocess.run(
        empycustom_command("demo", "--input", str(picture), "--frames", "3",
                           "--output", str(tmp_path)),
        capture_output=True, text=True, timeout=300, env=gst_environment(),
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
        empycustom_command("demo", "--input", str(tmp_path / "nope.mp4"), "--output", tmp_path),
        capture_output=True, text=True, timeout=60, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 1
    assert "nope.mp4' does not exist" in result.stderr

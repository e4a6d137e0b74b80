"""The `empycustom` command line: plugin-path, launch (with Ctrl-C), demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from pipeline import gst_environment


def empycustom_command(*arguments: str) -> list[str]:
    return [os.path.join(gst_environment()["VIRTUAL_ENV"], "bin", "empycustom"), *arguments]


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


def test_demo_prints_merged_meta():
    result = subprocess.run(
        empycustom_command("demo", "--frames", "4"),
        capture_output=True, text=True, timeout=120, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metas = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [meta["frame"][0]["frame_num"] for meta in metas] == [0, 1, 2, 3]
    assert all("average_intensity" in meta["frame"][0]["emcustom"] for meta in metas)

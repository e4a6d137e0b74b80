"""The `empycustom` command line: plugin-path, launch (with Ctrl-C); the demo is in test_demo.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from pipeline import gst_environment, run_gst_launch


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


def run_launch(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        empycustom_command("launch", *arguments), capture_output=True, text=True, timeout=60,
        env=gst_environment(),
    )  # fmt: skip


PIPELINE = ("videotestsrc", "num-buffers=3", "!", "video/x-raw,width=16,height=16", "!", "fakesink")


def test_launch_prints_gst_launch_status_lines_ending_with_execution_ended():
    result = run_launch(*PIPELINE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Setting pipeline to PLAYING ..."
    assert 'Got EOS from element "pipeline0".' in lines
    ended = [line for line in lines if line.startswith("Execution ended after ")]
    assert len(ended) == 1
    assert re.fullmatch(r"Execution ended after \d+:\d\d:\d\d\.\d{9}", ended[0])
    assert lines[-2:] == ["Setting pipeline to NULL ...", "Freeing pipeline ..."]


def test_launch_quiet_prints_nothing():
    for flags in (["-q"], ["-q", "-m"], ["--quiet", "-v"]):  # as gst-launch-1.0: quiet wins
        result = run_launch(*flags, *PIPELINE)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "" and result.stderr == "", flags


def test_launch_messages_prints_each_bus_message_as_gst_launch_does():
    ours = run_launch("-m", *PIPELINE)
    theirs = run_gst_launch(["-m", *PIPELINE])
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr

    def shape(text: str) -> list[str]:  # which elements sent which kinds of message
        found = re.findall(r'^Got message #\d+ from element "(\w+)" \(([\w-]+)\): ', text, re.M)
        return sorted(set(found))

    assert ("pipeline0", "eos") in shape(ours.stdout)
    assert shape(ours.stdout) == shape(theirs.stdout)


def test_launch_verbose_prints_property_notifications():
    result = run_launch("-v", *PIPELINE)
    assert result.returncode == 0, result.stderr
    caps = "/GstPipeline:pipeline0/GstFakeSink:fakesink0.GstPad:sink: caps = video/x-raw, "
    assert any(
        line.startswith(caps) and "width=(int)16" in line for line in result.stdout.splitlines()
    )
    assert caps not in run_launch(*PIPELINE).stdout


def test_launch_accepts_eos_on_shutdown(write_library):
    lib = write_library("def process_ip(b, m, o, e):\n    return ''\n")
    result = run_launch("-e", "-q", "videotestsrc", "num-buffers=2", "!", "empycustom",
                        f"custom-lib={lib}", "in-place=true", "!", "fakesink")  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_version():
    from empycustom import __version__

    result = subprocess.run(empycustom_command("--version"), capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"empycustom {__version__}"


def test_launch_piped_into_head_ends_quietly():
    command = " ".join(empycustom_command("launch", "-m", *PIPELINE)) + " | head -n 1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60,
        env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Setting pipeline to PLAYING ...\n"
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr

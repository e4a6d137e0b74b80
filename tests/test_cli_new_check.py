"""`empycustom new` and `empycustom check`, on the template, the examples and broken libraries."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from empycustom.cli.check import FRAMES, synthetic_pixels
from empycustom.cli.main import main
from empycustom.cli.scaffold import template_for
from empycustom.examples import example_path


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The real command line, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "empycustom.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )


def merged_metas(output: str) -> list[dict]:
    """The merged metas `check` printed, in order."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("    {")]


def test_new_writes_the_template_and_it_passes_check_in_both_modes(tmp_path):
    path = tmp_path / "my_lib.py"
    created = run_cli("new", str(path))
    assert created.returncode == 0, created.stderr
    text = path.read_text()
    assert text == template_for("my_lib.py")
    assert text.startswith('"""my_lib.py: a new empycustom library')
    assert "empycustom check my_lib.py --in-place" in text and "new_lib" not in text
    checked = run_cli("check", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = checked.stdout
    assert "defines: start(), stop(), process_ip(), process()" in out
    assert "in-place=true:" in out and "in-place=false:" in out
    assert out.rstrip().endswith("check: ok")
    metas = merged_metas(out)
    assert len(metas) == 2 * len(FRAMES)
    assert all(meta["frame"][0]["emcustom"]["test_int"] == 10 for meta in metas)
    sizes = {(meta["frame"][0]["emcustom"]["width"], meta["frame"][0]["emcustom"]["height"])
             for meta in metas}  # fmt: skip
    assert sizes == {(320, 240)}


def test_new_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    path = tmp_path / "lib.py"
    path.write_text("# mine\n")
    assert main(["new", str(path)]) == 1
    assert "exists; use --force" in capsys.readouterr().err
    assert path.read_text() == "# mine\n"
    assert main(["new", str(path), "--force"]) == 0
    assert path.read_text() == template_for("lib.py")


@pytest.mark.parametrize(
    ("name", "message"),
    [("lib.txt", "must end with .py"), ("no/such/folder/lib.py", "does not exist")],
)
def test_new_refuses_unusable_paths(tmp_path, capsys, name, message):
    assert main(["new", str(tmp_path / name)]) == 1
    assert message in capsys.readouterr().err


def test_template_runs_with_gst_launch_as_its_docstring_says(tmp_path, gst_launch):
    path = tmp_path / "new_lib.py"
    assert main(["new", str(path)]) == 0
    completed = gst_launch(
        ["videotestsrc", "num-buffers=30", "!", "video/x-raw,format=RGBA", "!", "empycustom",
         f"custom-lib={path}", "in-place=true", "silent=false", "!", "fakesink"]
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "ERROR" not in completed.stderr


def test_check_gives_the_library_real_pixels_and_the_options(write_library, capsys):
    library = write_library(
        """
        import numpy as np
        from gi.repository import Gst

        def process_ip(buf, in_meta, options, events):
            with buf.map(Gst.MapFlags.READ) as info:
                pixels = np.frombuffer(info.data, np.uint8).reshape(240, 320, 4)
                red, green = float(pixels[..., 0].mean()), float(pixels[..., 1].mean())
            return [{"red": red, "green": green, "factor": options["factor"]}]
        """
    )
    assert main(["check", library, "--options", '{"factor": 3}']) == 0
    metas = merged_metas(capsys.readouterr().out)
    expected = synthetic_pixels()
    assert len(metas) == len(FRAMES)
    for meta in metas:
        frame = meta["frame"][0]
        # One result: the first object's when the frame has objects, else the frame's.
        result = frame["object"][0]["emcustom"] if frame["object"] else frame["emcustom"]
        assert result["red"] == pytest.approx(expected[..., 0].mean())
        assert result["green"] == pytest.approx(expected[..., 1].mean())
        assert result["factor"] == 3


def test_check_hands_the_library_the_synthetic_objects(write_library, capsys):
    library = write_library(
        """
        def process_ip(buf, in_meta, options, events):
            return [{"label": obj["obj_label"]} for obj in in_meta["frame"][0]["object"]]
        """
    )
    assert main(["check", library]) == 0
    metas = merged_metas(capsys.readouterr().out)
    for meta, frame in zip(metas, FRAMES, strict=True):
        objects = meta["frame"][0]["object"]
        assert [(o["class_id"], o["obj_label"], o["emcustom"]["label"]) for o in objects] == [
            (obj.class_id, obj.label, obj.label) for obj in frame.objects
        ]
        assert [o["rect_params"] for o in objects] == [
            {"left": o.left, "top": o.top, "width": o.width, "height": o.height}
            for o in frame.objects
        ]


def test_check_passes_the_shipped_average_intensity_example(capsys):
    assert main(["check", example_path("average_intensity.py"), "--in-place"]) == 0
    out = capsys.readouterr().out
    assert "in-place=false" not in out
    assert len(merged_metas(out)) == len(FRAMES)


BROKEN = {
    "no process function": (
        "def start(options):\n    pass\n",
        [],
        ["defines neither process_ip() (in-place=true) nor process() (in-place=false)"],
    ),
    "in-place without process_ip": (
        "def process(buf, in_meta, options, events):\n    return buf, ''\n",
        ["--in-place"],
        ["has no function process_ip(), which in-place=true needs",
         "an error stopped the stream"],
    ),
    "exception": (
        "def process_ip(buf, in_meta, options, events):\n"
        "    if in_meta['frame'][0]['frame_num'] == 1:\n"
        "        return 1 / 0\n"
        "    return ''\n",
        [],
        ["process_ip() of custom-lib", "raised ZeroDivisionError: division by zero",
         "Traceback (most recent call last)", 'line 3, in process_ip',
         "frame 1 (no objects): passed without meta (the library failed on it)"],
    ),
    "out_meta that is not JSON": (
        "def process_ip(buf, in_meta, options, events):\n    return '[{oops'\n",
        [],
        ["PROBLEM (3 times):", "returned out_meta that is neither JSON nor a Python literal"],
    ),
    "out_meta of a wrong type": (
        "def process_ip(buf, in_meta, options, events):\n    return 42\n",
        [],
        ["process_ip() returned out_meta of type int"],
    ),
    "process() without a tuple": (
        "def process(buf, in_meta, options, events):\n    return '[]'\n",
        [],
        ["process() returned str; expected a tuple (out_buffer, out_meta)"],
    ),
    "output frame of a wrong size": (
        "def process(buf, in_meta, options, events):\n    return b'1234', ''\n",
        ["--not-in-place"],
        ["process() returned 4 bytes; RGBA 320x240 needs 307200"],
    ),
    "start() raises": (
        "def start(options):\n    raise RuntimeError('no model')\n"
        "def process_ip(buf, in_meta, options, events):\n    return ''\n",
        [],
        ["start() of custom-lib", "raised RuntimeError: no model", "line 2, in start",
         "an error stopped the stream"],
    ),
    "stop() raises": (
        "def stop(options):\n    raise OSError('cannot close')\n"
        "def process_ip(buf, in_meta, options, events):\n    return ''\n",
        [],
        ["stop() of custom-lib", "raised OSError: cannot close"],
    ),
    "syntax error": (
        "def process_ip(buf, in_meta, options, events)\n    return ''\n",
        [],
        ["failed to import: SyntaxError", "line 1"],
    ),
    "options that are not a JSON object": (
        "def process_ip(buf, in_meta, options, events):\n    return ''\n",
        ["--options", "[1, 2]"],
        ["property 'options' must be a JSON object, got list"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BROKEN)
def test_check_reports_what_is_wrong_and_fails(write_library, capsys, case):
    source, arguments, messages = BROKEN[case]
    library = write_library(source)
    assert main(["check", library, *arguments]) == 1
    out = capsys.readouterr().out
    for message in messages:
        assert message in out
    assert "PROBLEM" in out
    assert out.rstrip().splitlines()[-1].startswith("check: ") and "problem(s)" in out


def test_check_of_a_missing_file_fails(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nowhere.py")]) == 1
    assert "does not exist or is not a file" in capsys.readouterr().out


def test_check_stops_waiting_for_a_library_that_hangs(write_library, capsys):
    library = write_library(
        "import time\n"
        "def process_ip(buf, in_meta, options, events):\n"
        "    time.sleep(1.5)\n"
        "    return ''\n"
    )
    assert main(["check", library, "--timeout", "0.5"]) == 1
    assert "the pipeline did not finish within 0.5 s" in capsys.readouterr().out


def test_check_exit_status_through_the_real_command(write_library):
    bad = write_library("def process_ip(buf, in_meta, options, events):\n    raise KeyError('x')\n")
    completed = run_cli("check", bad)
    assert completed.returncode == 1
    assert "raised KeyError: 'x'" in completed.stdout
    assert os.path.basename(bad) in completed.stdout


SUBCOMMANDS = ("plugin-path", "launch", "new", "check", "demo")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_each_subcommand_help_has_a_description_an_example_and_the_defaults(command, capsys):
    with pytest.raises(SystemExit) as ended:
        main([command, "--help"])
    assert ended.value.code == 0
    text = capsys.readouterr().out
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: empycustom {command}")
    assert len(description.split()) >= 12, description  # a real description, not the usage
    examples = text[text.index("examples:\n") :].splitlines()[1:]
    assert any(f"empycustom {command}" in line for line in examples), text
    # Every option but --help says its default.
    options = text[text.index("options:") : text.index("examples:")]
    helps = re.split(r"\n  -", options)[2:]
    assert all("default" in " ".join(h.split()) or "always" in h for h in helps), helps


def test_top_level_help_and_version(capsys):
    from empycustom import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"empycustom {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert all(command in text for command in SUBCOMMANDS)

"""The elements through gst-launch-1.0 / gst-inspect-1.0 and the Python plugin loader."""

from __future__ import annotations

import json
import re
import subprocess

from pipeline import LEAKS_TRACER_ENV, assert_ran_without_leaks, gst_environment

COUNTING = "def process_ip(b, in_meta, options, events):\n    return [options]\n"


def test_inspect_documents_every_property(write_library):
    result = subprocess.run(
        ["gst-inspect-1.0", "empycustom"],
        capture_output=True, text=True, timeout=60, env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert re.search(r"^  qos\s*: ", result.stdout, re.MULTILINE)  # BaseTransform's own blurb
    for name in ("custom-lib", "options", "events", "in-place", "process-interval", "silent",
                 "last-meta", "on-error"):  # fmt: skip
        match = re.search(rf"^  {re.escape(name)}\s*: (.+)$", result.stdout, re.MULTILINE)
        assert match, f"{name} missing from gst-inspect-1.0"
        blurb = match.group(1)
        assert blurb[0].isupper() and blurb.rstrip().endswith("."), blurb
    assert '"new-meta"' in result.stdout
    assert "Range: 1 - 2147483647 Default: 1" in result.stdout


def test_launch_pipeline_with_several_properties(gst_launch, write_library, tmp_path):
    lib = write_library(COUNTING)
    result = gst_launch(
        ["-q", "videotestsrc", "num-buffers=5", "!", "video/x-raw,format=I420,width=32,height=24",
         "!", "empycustom", f"custom-lib={lib}", "in-place=true", "process-interval=2",
         "silent=true", 'options={"gain": 2}', "!", "fakesink"]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CRITICAL" not in result.stderr and "WARNING" not in result.stderr, result.stderr


def test_launch_reports_library_errors(gst_launch, tmp_path):
    result = gst_launch(
        ["videotestsrc", "num-buffers=2", "!", "empycustom",
         f"custom-lib={tmp_path / 'absent.py'}", "!", "fakesink"]
    )  # fmt: skip
    assert result.returncode != 0
    assert "does not exist or is not a file" in result.stdout + result.stderr


def test_launch_meta_reaches_a_downstream_probe_in_another_process(write_library, tmp_path):
    """A pad probe in a separate script (plugin loader, not in-process registration)."""
    lib = write_library(
        "def process_ip(b, m, o, e):\n    return [{'n': m['frame'][0]['frame_num']}]\n"
    )
    script = tmp_path / "probe.py"
    script.write_text(
        f"""
import json, gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
import empycustom
pipeline = Gst.parse_launch(
    "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=16,height=16 ! "
    "empycustom custom-lib={lib} in-place=true ! fakesink name=sink")
seen = []
def probe(pad, info):
    seen.append(empycustom.read_meta(info.get_buffer())["frame"][0]["emcustom"]["n"])
    return Gst.PadProbeReturn.OK
pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
pipeline.set_state(Gst.State.PLAYING)
pipeline.get_bus().timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
print(json.dumps(seen))
"""
    )
    env = gst_environment()
    result = subprocess.run(
        [env["VIRTUAL_ENV"] + "/bin/python", str(script)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, 1, 2]
    assert "CRITICAL" not in result.stderr, result.stderr


def test_no_leaks_under_the_leaks_tracer(gst_launch, write_library):
    not_in_place = write_library(
        """
        import numpy as np
        def process(in_buffer, in_meta, options, events):
            return np.zeros((24, 32, 4), np.uint8), [{"x": 1}]
        """
    )
    for lib, mode in ((not_in_place, "in-place=false"), (write_library(COUNTING), "in-place=true")):
        result = gst_launch(
            ["videotestsrc", "num-buffers=20", "!", "video/x-raw,format=RGBA,width=32,height=24",
             "!", "empycustom", f"custom-lib={lib}", mode, "!", "fakesink"],
            env=LEAKS_TRACER_ENV,
        )  # fmt: skip
        assert_ran_without_leaks(result)


def test_reference_debug_recipe_python_category_logs_each_buffer(gst_launch, write_library):
    """The reference's "Print output meta to console": GST_DEBUG=*python*:6 shows these lines
    (gst-python's "python" category, where the reference's element logged)."""
    lib = write_library(COUNTING)
    result = gst_launch(
        ["videotestsrc", "num-buffers=3", "!", "empycustom", f"custom-lib={lib}",
         "in-place=true", "silent=false", "!", "fakesink"],
        env={"GST_DEBUG": "*python*:6", "GST_DEBUG_NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    debug = [line for line in lines if re.search(r" DEBUG +python .*:do_transform_ip:", line)]
    assert len(debug) == 3 and all(line.endswith(" transform_ip") for line in debug), lines
    log = [line for line in lines if re.search(r" LOG +python .* Processing buffer$", line)]
    assert len(log) == 3, lines


def test_debug_category_logs_each_buffer(gst_launch, write_library):
    lib = write_library(COUNTING)
    result = gst_launch(
        ["videotestsrc", "num-buffers=3", "!", "empycustom", f"custom-lib={lib}",
         "in-place=true", "!", "fakesink"],
        env={"GST_DEBUG": "empycustom:6", "GST_DEBUG_NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert sum(" DEBUG " in line and "empycustom" in line and "transform_ip" in line
               for line in lines) == 3  # fmt: skip
    assert sum(" LOG " in line and "Processing buffer" in line for line in lines) == 3

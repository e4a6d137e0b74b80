"""transform_ip and transform in C (_native.install_transforms) instead of PyGObject's closures.

What PyGObject guarantees a Python vfunc must still hold: a buffer object the library keeps
stays valid (it takes a reference of its own), the reference is dropped when the object dies,
and what escapes the method is an error naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline import LEAKS_TRACER_ENV, assert_ran_without_leaks

from empycustom.elements import empycustom as element_module

CAPS = "video/x-raw,format=RGBA,width=32,height=24"
FRAMES = 6

# Keeps every buffer object it is given; reads the earlier ones on each call.
KEEPING = """
kept = []

def _earlier():
    return [[buffer.pts, buffer.get_size()] for buffer in kept]

def process_ip(io_buffer, in_meta, options, events):
    earlier = _earlier()
    kept.append(io_buffer)
    return {"earlier": earlier}

def process(in_buffer, in_meta, options, events):
    earlier = _earlier()
    kept.append(in_buffer)
    return in_buffer, {"earlier": earlier}

def stop(options):
    kept.clear()
"""


def test_the_vfuncs_are_in_c_on_this_release() -> None:
    # False would mean PyGObject's wrapper layout no longer matches: the element still works,
    # through PyGObject's closures, but each buffer costs about 7k instructions more.
    assert element_module.NATIVE_VFUNCS is True


@pytest.mark.parametrize("in_place", [True, False])
def test_buffers_kept_by_the_library_stay_valid(pipeline, write_library, in_place) -> None:
    lib = write_library(KEEPING)
    result = pipeline(
        f"videotestsrc num-buffers={FRAMES} ! {CAPS} ! "
        f"empycustom name=e custom-lib={lib} in-place={str(in_place).lower()} ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert not result.errors and not result.warnings
    pts = [frame.pts for frame in result.frames]
    assert len(pts) == FRAMES
    for index, frame in enumerate(result.frames):
        # Each kept object still reads its own buffer: the pts and size of the earlier frames.
        assert frame.meta["frame"][0]["emcustom"]["earlier"] == [
            [earlier, 32 * 24 * 4] for earlier in pts[:index]
        ]


@pytest.mark.parametrize("mode", ["in-place=true", "in-place=false"])
def test_kept_buffers_are_released_when_the_library_drops_them(gst_launch, write_library, mode):
    lib = write_library(KEEPING)
    result = gst_launch(
        ["videotestsrc", f"num-buffers={FRAMES}", "!", CAPS, "!", "empycustom",
         f"custom-lib={lib}", mode, "!", "fakesink"],
        env=LEAKS_TRACER_ENV,
    )  # fmt: skip
    assert_ran_without_leaks(result)


def test_an_exception_escaping_the_transform_is_an_error_naming_it(pipeline, write_library):
    lib = write_library("def process_ip(io_buffer, in_meta, options, events):\n    return ''\n")

    def break_events(pipeline_object) -> None:
        element = pipeline_object.get_by_name("e")
        element.set_property("events", '{"go": 1}')

        def failing() -> dict:
            raise RuntimeError("events went missing")

        element._take_events = failing  # outside the library call's own error handling

    result = pipeline(
        f"videotestsrc num-buffers=3 ! {CAPS} ! empycustom name=e custom-lib={lib} "
        "in-place=true ! appsink name=sink",
        configure=break_events,
    )
    assert not result.eos
    assert result.frames == []
    # The element's error, then the source's "streaming stopped, reason error".
    assert result.errors[0][0] == "transform_ip raised RuntimeError: events went missing"
    debug = result.errors[0][1]
    assert "Traceback (most recent call last)" in debug and "in failing" in debug, debug


def test_pygobject_closures_are_kept_when_asked(write_library, tmp_path) -> None:
    """EMPYCUSTOM_NATIVE_VFUNCS=0: the same pipeline gives the same meta through PyGObject."""
    lib = write_library(KEEPING)
    script = tmp_path / "run.py"
    description = (
        f"videotestsrc num-buffers={FRAMES} ! {CAPS} ! empycustom name=e custom-lib={lib} "
        "in-place=true ! appsink name=sink"
    )
    script.write_text(
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pipeline import run_pipeline\n"
        "import empycustom\n"
        "from empycustom.elements import empycustom as element\n"
        "empycustom.register()\n"
        f"result = run_pipeline({description!r})\n"
        "assert result.eos, result.error_texts\n"
        "print(json.dumps([element.NATIVE_VFUNCS,"
        " [f.meta['frame'][0]['emcustom'] for f in result.frames]]))\n"
    )
    outputs = []
    for value in ("0", "1"):
        completed = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
            env={**os.environ, "EMPYCUSTOM_NATIVE_VFUNCS": value},
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr
        outputs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    (pygobject, pygobject_meta), (native, native_meta) = outputs
    assert (pygobject, native) == (False, True)
    # Wall-clock free: the pts of the earlier frames only.
    assert pygobject_meta == native_meta
    assert len(native_meta[-1]["earlier"]) == FRAMES - 1

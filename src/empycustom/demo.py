"""`empycustom demo` (what `make demo` runs): a real pipeline on a bundled default input."""

from __future__ import annotations

import argparse
import json

from empycustom._gst import Gst
from empycustom.examples import example_path
from empycustom.launch import run_pipeline_until_done
from empycustom.registration import register

DEFAULT_FRAMES = 60


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lib", default=example_path("average_intensity.py"), help="custom library to run"
    )
    parser.add_argument(
        "--frames", type=int, default=DEFAULT_FRAMES, help="number of frames to process"
    )


def run_demo(args: argparse.Namespace) -> int:
    register()
    pipeline = Gst.parse_launch(
        f"videotestsrc pattern=ball num-buffers={args.frames} ! "
        "video/x-raw,format=RGBA,width=320,height=240,framerate=30/1 ! "
        "empycustom name=custom in-place=true ! fakesink"
    )
    custom = pipeline.get_by_name("custom")
    custom.set_property("custom-lib", args.lib)
    custom.connect("new-meta", lambda _element, text: print(text, flush=True))
    status = run_pipeline_until_done(pipeline)
    last = custom.get_property("last-meta")
    if status == 0 and last:
        print(f"demo: processed frames 0..{json.loads(last)['frame'][0]['frame_num']}")
    return status

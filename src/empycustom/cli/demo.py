"""`empycustom demo` (what `make demo` runs): faces found, measured, drawn and encoded.

decode -> facedetect -> empycustom (average intensity) -> empycustom (overlay) -> aimeta -> H.264
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from empycustom.cli.launch import run_pipeline_until_done
from empycustom.elements.registration import register
from empycustom.examples import example_path
from empycustom.gst.runtime import Gst

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(PACKAGE_DIR, "data")
DEFAULT_INPUT = os.path.join(DATA_DIR, "astronaut-faces.png")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_FRAMES = 90


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        default=DEFAULT_INPUT,
        help="a photograph (shown for --frames frames), a video file or a URI "
        "(default: the bundled photograph of three faces)",
    )
    parser.add_argument(
        "--lib",
        default=example_path("average_intensity.py"),
        help="custom library run on the faces (default: examples/average_intensity.py)",
    )
    parser.add_argument(
        "--frames", type=int, default=DEFAULT_FRAMES, help="frames made from a photograph"
    )
    parser.add_argument("--output", default="out", help="folder for demo.mp4 and demo.jsonl")
    parser.add_argument("--quiet", action="store_true", help="do not print each frame's JSON")


def source_description(source: str, frames: int) -> str:
    """Pipeline head for a photograph (a clip of `frames` frames), a video file or a URI."""
    if "://" in source:
        return f'uridecodebin uri="{source}"'
    if not os.path.isfile(source):
        raise FileNotFoundError(f"demo input '{source}' does not exist")
    location = os.path.abspath(source)
    if location.lower().endswith(IMAGE_SUFFIXES):
        return (
            f'filesrc location="{location}" ! decodebin ! videoconvert ! '
            f"imagefreeze num-buffers={frames} ! video/x-raw,framerate=30/1"
        )
    return f'uridecodebin uri="{Gst.filename_to_uri(location)}"'


def demo_pipeline(source: str, frames: int, lib: str, video: str, lines: str) -> str:
    return (
        f"{source_description(source, frames)} ! videoconvert ! facedetect display=false ! "
        "videoconvert ! video/x-raw,format=RGBA ! "
        f'empycustom name=measure custom-lib="{lib}" in-place=true ! '
        f'empycustom name=overlay custom-lib="{example_path("draw_overlay.py")}" '
        "in-place=true silent=true ! "
        f'aimeta name=meta silent=false location="{lines}" ! videoconvert ! '
        "x264enc speed-preset=ultrafast ! mp4mux ! "
        f'filesink location="{video}"'
    )


class Progress:
    """Prints each frame's merged JSON and, once a second, frames and fps."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.frames = 0
        self.objects = 0
        self.started = time.monotonic()
        self.last_report = self.started

    def on_meta(self, _element: Gst.Element, text: str) -> None:
        self.frames += 1
        self.objects += len(json.loads(text)["frame"][0]["object"])
        if not self.quiet:
            print(text, flush=True)
        now = time.monotonic()
        if now - self.last_report >= 1:
            self.last_report = now
            print(f"demo: {self.frames} frames, {self.fps():.1f} fps", file=sys.stderr)

    def fps(self) -> float:
        return self.frames / max(time.monotonic() - self.started, 1e-9)


def run_demo(args: argparse.Namespace) -> int:
    register()
    os.makedirs(args.output, exist_ok=True)
    video = os.path.abspath(os.path.join(args.output, "demo.mp4"))
    lines = os.path.abspath(os.path.join(args.output, "demo.jsonl"))
    if os.path.exists(lines):
        os.remove(lines)  # aimeta appends
    try:
        description = demo_pipeline(args.input, args.frames, args.lib, video, lines)
    except FileNotFoundError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    pipeline = Gst.parse_launch(description)
    progress = Progress(args.quiet)
    pipeline.get_by_name("meta").connect("new-meta", progress.on_meta)
    status = run_pipeline_until_done(pipeline)
    summary: dict[str, Any] = {
        "frames": progress.frames,
        "objects": progress.objects,
        "fps": round(progress.fps(), 1),
        "video": video,
        "json_lines": lines,
    }
    print(f"demo: {'done' if status == 0 else 'FAILED'}: {json.dumps(summary)}", file=sys.stderr)
    return status

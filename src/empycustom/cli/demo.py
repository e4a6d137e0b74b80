"""`empycustom demo` (what `make demo` runs): faces found, measured, drawn and encoded.

clip (or a video) -> facedetect -> empycustom (average intensity) -> empycustom (overlay) ->
aimeta (JSON lines) -> H.264 in MP4. The default input is a clip made from the bundled
photograph, panning and zooming so that the faces move (`clip.py`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from empycustom.examples import example_path

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(PACKAGE_DIR, "data")
DEFAULT_INPUT = os.path.join(DATA_DIR, "astronaut-faces.png")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_FRAMES = 90
TIMED_ELEMENTS = ("facedetect", "measure", "overlay")
# GStreamer elements the demo needs, and the Debian package that has each.
NEEDED_ELEMENTS = {
    "facedetect": "gstreamer1.0-opencv",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "mp4mux": "gstreamer1.0-plugins-good",
    "videoconvert": "gstreamer1.0-plugins-base",
    "appsrc": "gstreamer1.0-plugins-base",
}


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", default=DEFAULT_INPUT,
        help="a photograph (made into a panning and zooming clip of --frames frames), a video "
        "file or a URI (default: the bundled photograph of three faces)",
    )  # fmt: skip
    parser.add_argument(
        "--lib", default=example_path("average_intensity.py"),
        help="custom library run on the faces (default: examples/average_intensity.py)",
    )  # fmt: skip
    parser.add_argument(
        "--frames", type=int, default=DEFAULT_FRAMES,
        help=f"frames of the clip made from a photograph (default {DEFAULT_FRAMES}, 3 s)",
    )  # fmt: skip
    parser.add_argument(
        "--output", default="out",
        help="folder for demo.mp4 and demo.jsonl (default ./out, created if missing)",
    )  # fmt: skip
    parser.add_argument(
        "--print-json", action="store_true",
        help="also print each frame's merged JSON on standard output (default: only in "
        "demo.jsonl)",
    )  # fmt: skip
    parser.add_argument(
        "--quiet", action="store_true",
        help="no progress bar, only the summary at the end (default: a progress bar)",
    )  # fmt: skip
    from empycustom.cli.main import add_worker_arguments  # main imports this module lazily

    add_worker_arguments(parser)  # for the measuring element (--lib)


def missing_requirements() -> list[str]:
    """What the demo needs and cannot find, each with what to install."""
    from empycustom.gst.runtime import Gst

    missing = []
    if importlib.util.find_spec("cv2") is None:
        missing.append(
            "OpenCV for Python (the clip and the overlay): pip install 'empycustom[opencv]'"
        )
    for element, package in NEEDED_ELEMENTS.items():
        if Gst.ElementFactory.find(element) is None:
            missing.append(f"the GStreamer element {element}: apt-get install {package}")
    return missing


def is_image(source: str) -> bool:
    return "://" not in source and source.lower().endswith(IMAGE_SUFFIXES)


def source_description(source: str) -> str:
    """Pipeline head: an appsrc named "clip" for a photograph, else a decoder for the video."""
    from empycustom.cli.clip import CLIP_FPS, CLIP_HEIGHT, CLIP_WIDTH
    from empycustom.gst.runtime import Gst

    if "://" in source:
        return f'uridecodebin uri="{source}"'
    if not os.path.isfile(source):
        raise FileNotFoundError(f"demo input '{source}' does not exist")
    if is_image(source):
        return (
            "appsrc name=clip format=time "
            f"caps=video/x-raw,format=RGB,width={CLIP_WIDTH},height={CLIP_HEIGHT},"
            f"framerate={CLIP_FPS}/1"
        )
    return f'uridecodebin uri="{Gst.filename_to_uri(os.path.abspath(source))}"'


def demo_pipeline(
    head: str, lib: str, video: str, lines: str, workers: int = 1, worker_kind: str = "thread"
) -> str:
    # facedetect's nose/mouth/eye cascades only add fields to its bus messages; the demo
    # uses the faces' ROI metas.
    return (
        f"{head} ! videoconvert ! "
        "facedetect name=facedetect display=false updates=none ! "
        "videoconvert ! video/x-raw,format=RGBA ! "
        f'empycustom name=measure custom-lib="{lib}" in-place=true '
        f"workers={workers} worker-kind={worker_kind} ! "
        f'empycustom name=overlay custom-lib="{example_path("draw_overlay.py")}" '
        "in-place=true silent=true ! "
        f'aimeta name=meta location="{lines}" ! videoconvert ! '
        "x264enc speed-preset=ultrafast ! mp4mux ! "
        f'filesink location="{video}"'
    )


def feed_clip(appsrc: Any, photo: str, count: int) -> None:
    """Make `appsrc` push the `count` frames of the clip made from `photo`, then EOS."""
    from empycustom.cli.clip import CLIP_FPS, ClipSource
    from empycustom.gst.runtime import Gst

    clip = ClipSource(photo, count)
    position = {"next": 0}
    duration = Gst.SECOND // CLIP_FPS

    def need_data(source: Any, _length: int) -> None:
        index = position["next"]
        if index >= count:
            source.emit("end-of-stream")
            return
        position["next"] = index + 1
        buffer = Gst.Buffer.new_wrapped(clip.frame(index).tobytes())
        buffer.pts = index * Gst.SECOND // CLIP_FPS
        buffer.duration = duration
        source.emit("push-buffer", buffer)

    appsrc.connect("need-data", need_data)


def progress_line(frames: int, total: int | None, elapsed: float, width: int = 30) -> str:
    """`[#####.....]  45/90 frames  38.2 fps  0:01 left` (no bar nor time left without a total)."""
    fps = frames / elapsed if elapsed > 0 else 0.0
    if not total:
        return f"{frames} frames  {fps:.1f} fps  {format_seconds(elapsed)}"
    done = min(frames / total, 1.0)
    filled = round(done * width)
    left = (total - frames) / fps if fps > 0 else None
    remaining = format_seconds(left) if left is not None else "--:--"
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {frames:>{len(str(total))}}/{total} frames  {fps:.1f} fps  {remaining} left"


def format_seconds(seconds: float) -> str:
    minutes, whole = divmod(max(round(seconds), 0), 60)
    return f"{minutes}:{whole:02d}"


def summary_table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


@dataclass
class ElementTimer:
    """Time each buffer spends in named in-place elements: from their sink pad to their src pad.

    The elements run in one streaming thread, so a buffer's time between the two probes is the
    element's work on it.
    """

    names: tuple[str, ...]
    totals_ns: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    _entered: threading.local = field(default_factory=threading.local)

    def attach(self, pipeline: Any) -> None:
        from empycustom.gst.runtime import Gst

        for name in self.names:
            element = pipeline.get_by_name(name)
            self.totals_ns[name], self.counts[name] = 0, 0
            element.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._enter, name)
            element.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._leave, name)

    def _enter(self, _pad: Any, _info: Any, name: str) -> Any:
        from empycustom.gst.runtime import Gst

        setattr(self._entered, name, time.perf_counter_ns())
        return Gst.PadProbeReturn.OK

    def _leave(self, _pad: Any, _info: Any, name: str) -> Any:
        from empycustom.gst.runtime import Gst

        entered = getattr(self._entered, name, None)
        if entered is not None:
            self.totals_ns[name] += time.perf_counter_ns() - entered
            self.counts[name] += 1
        return Gst.PadProbeReturn.OK

    def milliseconds(self, name: str) -> float:
        return self.totals_ns[name] / max(self.counts[name], 1) / 1e6


class Progress:
    """Counts frames and objects from aimeta's new-meta; draws the progress bar on stderr."""

    def __init__(self, total: int | None, show: bool, print_json: bool, out: TextIO) -> None:
        self.total = total
        self.show = show
        self.print_json = print_json
        self.out = out
        self.frames = 0
        self.objects = 0
        self.started = time.monotonic()
        self.last_drawn = 0.0
        self.interactive = out.isatty()

    def on_meta(self, _element: Any, text: str) -> None:
        self.frames += 1
        self.objects += len(json.loads(text)["frame"][0]["object"])
        if self.print_json:
            print(text, flush=True)
        now = time.monotonic()
        # A terminal gets a bar redrawn in place; a log file a line every few seconds.
        if self.show and now - self.last_drawn >= (0.1 if self.interactive else 2.0):
            self.last_drawn = now
            self.draw()

    def draw(self, final: bool = False) -> None:
        line = progress_line(self.frames, self.total, self.elapsed())
        if self.interactive:
            self.out.write("\r" + line + ("\n" if final else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def fps(self) -> float:
        return self.frames / max(self.elapsed(), 1e-9)


def run_demo(args: argparse.Namespace) -> int:
    # facedetect loads nose, mouth and eye-pair cascades OpenCV 4 no longer ships (Debian's
    # opencv-data lacks them) as soon as it is created; OpenCV's log would show an error each.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
    missing = missing_requirements()
    if missing:
        print("empycustom demo needs:\n" + "\n".join(f"  - {m}" for m in missing), file=sys.stderr)
        return 1
    from empycustom.cli.launch import run_pipeline_until_done
    from empycustom.elements.registration import register
    from empycustom.gst.runtime import Gst

    register()
    try:
        head = source_description(args.input)
    except FileNotFoundError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    os.makedirs(args.output, exist_ok=True)
    video = os.path.abspath(os.path.join(args.output, "demo.mp4"))
    lines = os.path.abspath(os.path.join(args.output, "demo.jsonl"))
    if os.path.exists(lines):
        os.remove(lines)  # aimeta appends
    pipeline = Gst.parse_launch(
        demo_pipeline(head, args.lib, video, lines, args.workers, args.worker_kind)
    )
    total = args.frames if is_image(args.input) else None
    if total is not None:
        feed_clip(pipeline.get_by_name("clip"), args.input, total)
    progress = Progress(total, not args.quiet, args.print_json, sys.stderr)
    meta = pipeline.get_by_name("meta")
    meta.set_property("silent", False)
    meta.connect("new-meta", progress.on_meta)
    timer = ElementTimer(TIMED_ELEMENTS)
    timer.attach(pipeline)
    status = run_pipeline_until_done(pipeline)
    if not args.quiet:
        progress.draw(final=True)
    frames = progress.frames
    rows = [
        ("frames", str(frames)),
        ("objects", f"{progress.objects} ({progress.objects / max(frames, 1):.1f} per frame)"),
        ("fps", f"{progress.fps():.1f} ({progress.elapsed():.1f} s)"),
    ]
    rows += [(f"{name} (ms/frame)", f"{timer.milliseconds(name):.2f}") for name in timer.names]
    rows += [("video", video), ("JSON lines", lines)]
    print(f"empycustom demo: {'done' if status == 0 else 'FAILED'}", file=sys.stderr)
    print(summary_table(rows), file=sys.stderr)
    return status

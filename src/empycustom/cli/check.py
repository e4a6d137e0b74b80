"""`empycustom check LIB.py`: run a library in the real element on synthetic frames with objects.

The frames go through `appsrc ! empycustom ! appsink`, so the library is loaded, started,
called, stopped and its out_meta parsed and merged exactly as in any pipeline. Every problem
the element reports (missing function, exception with its traceback, out_meta that cannot be
parsed, failing start() or stop()) is collected into a `CheckReport`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from empycustom.elements.registration import register
from empycustom.gst.messages import error_text
from empycustom.gst.runtime import Gst, GstVideo
from empycustom.library.loader import LibraryError, import_library, required_function
from empycustom.library.options import PropertyValueError, parse_json_object
from empycustom.meta import custom_meta

WIDTH, HEIGHT, FPS = 320, 240, 30
CAPS = f"video/x-raw,format=RGBA,width={WIDTH},height={HEIGHT},framerate={FPS}/1"
DEFAULT_TIMEOUT_S = 60.0
# The "file(line): function (): /GstPipeline:...:" line GStreamer puts before a message's debug.
_GST_LOCATION = re.compile(r"^\S+\(\d+\): \S+ \(\): \S+:\n")


@dataclass(frozen=True)
class SyntheticObject:
    """A detection attached to a synthetic frame as a GstVideoRegionOfInterestMeta."""

    label: str
    class_id: int
    confidence: float
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class SyntheticFrame:
    description: str
    objects: tuple[SyntheticObject, ...]


# Class ids as DeepStream's primary detector numbers them (person = 2), which the reference's
# average_intensity example expects.
FRAMES = (
    SyntheticFrame(
        "3 objects",
        (
            SyntheticObject("person", 2, 0.9, 20, 30, 60, 150),
            SyntheticObject("car", 0, 0.75, 150, 120, 120, 80),
            SyntheticObject("person", 2, 0.6, 250, 40, 40, 100),
        ),
    ),
    SyntheticFrame("no objects", ()),
    SyntheticFrame(
        "2 objects touching the frame's edges",
        (
            SyntheticObject("person", 2, 0.5, 0, 0, 50, 120),
            SyntheticObject("car", 0, 0.5, WIDTH - 64, HEIGHT - 48, 64, 48),
        ),
    ),
)


def synthetic_pixels() -> np.ndarray:
    """A (HEIGHT, WIDTH, 4) RGBA gradient: red grows to the right, green downwards."""
    x = np.linspace(0, 255, WIDTH, dtype=np.float32)
    y = np.linspace(0, 255, HEIGHT, dtype=np.float32)
    pixels = np.empty((HEIGHT, WIDTH, 4), np.uint8)
    pixels[:, :, 0] = x[np.newaxis, :]
    pixels[:, :, 1] = y[:, np.newaxis]
    pixels[:, :, 2] = 128
    pixels[:, :, 3] = 255
    return pixels


def roi_buffer(pixels: np.ndarray, objects: Sequence[SyntheticObject], pts: int) -> Gst.Buffer:
    """A buffer holding `pixels` with one ROI meta per object, each with a "detection" param
    (`label_id`, `confidence`), as detectors attach them."""
    buffer = Gst.Buffer.new_wrapped(pixels.tobytes())
    buffer.pts = pts
    buffer.duration = Gst.SECOND // FPS
    for object_id, obj in enumerate(objects):
        meta = GstVideo.buffer_add_video_region_of_interest_meta(
            buffer, obj.label, obj.left, obj.top, obj.width, obj.height
        )
        meta.id = object_id
        detection = Gst.Structure.new_empty("detection")
        detection.set_value("label_id", obj.class_id)
        detection.set_value("confidence", obj.confidence)
        meta.add_param(detection)
    return buffer


@dataclass
class FrameOutcome:
    description: str
    merged_meta: dict[str, Any] | None = None  # None: no meta reached the sink
    arrived: bool = False  # False: the frame was dropped (or the stream stopped before it)


@dataclass
class ModeResult:
    """One run of the library in one mode (in-place or not)."""

    in_place: bool
    frames: list[FrameOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stopped: bool = False  # an error stopped the stream


@dataclass
class CheckReport:
    path: str
    functions: list[str] = field(default_factory=list)
    modes: list[ModeResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # problems found before running

    @property
    def ok(self) -> bool:
        return not self.problems and all(not mode.problems for mode in self.modes)


def check_library(
    path: str,
    in_place: bool | None = None,
    options_text: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    workers: Workers | None = None,
) -> CheckReport:
    """Check the library at `path` in the given mode; `in_place=None` checks every mode the
    library has a process function for. `workers`: the element's workers, worker-kind and
    batch-size (default: one frame at a time)."""
    workers = workers or Workers()
    report = CheckReport(path=path)
    try:
        parse_json_object(options_text, "options")
    except PropertyValueError as error:
        report.problems.append(str(error))
        return report
    report.functions, problem = _defined_functions(path)
    if problem:
        report.problems.append(problem)
        return report
    if in_place is None:
        batch = workers.batch_size > 1
        modes = [
            mode for mode in (True, False) if required_function(mode, batch) in report.functions
        ]
        if batch and "process_batch" in report.functions:
            modes = modes[:1]  # process_batch() serves both; in place is checked
        if not modes:
            report.problems.append(
                f"custom-lib '{path}' has no process_batch(), which batch-size > 1 needs"
                if batch
                else f"custom-lib '{path}' defines neither process_ip() (in-place=true) nor "
                "process() (in-place=false)"
            )
            return report
    else:
        modes = [in_place]
    for mode in modes:
        report.modes.append(run_in_pipeline(path, mode, options_text, timeout, workers))
    return report


def _defined_functions(path: str) -> tuple[list[str], str]:
    """The contract functions the file defines, or a problem when it cannot be imported."""
    try:
        library = import_library(path)
    except LibraryError as error:
        return [], f"{error}\n{error.debug}".rstrip()
    library.unload()
    names = ("start", "stop", "process_ip", "process", "process_batch")
    return [name for name in names if library.function(name) is not None], ""


@dataclass(frozen=True)
class Workers:
    """The element's workers, worker-kind and batch-size for a check."""

    workers: int = 1
    kind: str = "thread"
    batch_size: int = 1


def run_in_pipeline(
    path: str,
    in_place: bool,
    options_text: str | None,
    timeout: float = DEFAULT_TIMEOUT_S,
    workers: Workers | None = None,
) -> ModeResult:
    """Push the synthetic frames through `appsrc ! empycustom ! appsink` and collect what the
    element reported and what reached the sink."""
    register()
    result = ModeResult(in_place=in_place)
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time caps={CAPS} ! "
        "empycustom name=custom on-error=warn ! appsink name=sink sync=false wait-on-eos=false"
    )
    custom = pipeline.get_by_name("custom")
    custom.set_property("custom-lib", os.path.abspath(path))
    custom.set_property("in-place", in_place)
    if workers is not None:
        custom.set_property("workers", workers.workers)
        custom.set_property("batch-size", workers.batch_size)
        Gst.util_set_object_arg(custom, "worker-kind", workers.kind)
    if options_text is not None:
        custom.set_property("options", options_text)
    source, sink = pipeline.get_by_name("src"), pipeline.get_by_name("sink")
    # Keep what start() and stop() post while changing state until it is read below.
    pipeline.set_auto_flush_bus(False)
    bus = pipeline.get_bus()

    def collect(message: Gst.Message) -> None:
        text, debug = error_text(message)
        result.problems.append(f"{text}\n{_GST_LOCATION.sub('', debug)}".rstrip())
        if message.type == Gst.MessageType.ERROR:
            result.stopped = True

    if pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE:
        for index, frame in enumerate(FRAMES):
            pts = index * Gst.SECOND // FPS
            source.emit("push-buffer", roi_buffer(synthetic_pixels(), frame.objects, pts))
        source.emit("end-of-stream")
        mask = Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.WARNING
        while True:
            message = bus.timed_pop_filtered(int(timeout * Gst.SECOND), mask)
            if message is None:
                result.problems.append(f"the pipeline did not finish within {timeout:g} s")
                break
            if message.type == Gst.MessageType.EOS:
                break
            collect(message)
            if message.type == Gst.MessageType.ERROR:
                break
    outcomes = {index: FrameOutcome(frame.description) for index, frame in enumerate(FRAMES)}
    while sample := sink.emit("try-pull-sample", 0):
        buffer = sample.get_buffer()
        outcome = outcomes.get(round(buffer.pts * FPS / Gst.SECOND))
        if outcome is not None:  # None: a buffer the library made without our timestamps
            outcome.arrived = True
            outcome.merged_meta = custom_meta.read_meta(buffer)
    pipeline.set_state(Gst.State.NULL)
    # What stop() reported, and errors posted while the state change failed.
    while message := bus.pop_filtered(Gst.MessageType.WARNING | Gst.MessageType.ERROR):
        collect(message)
    result.frames = [outcomes[index] for index in range(len(FRAMES))]
    return result


def format_report(report: CheckReport) -> str:
    """The report as the text `empycustom check` prints."""
    lines = [f"check: {report.path}"]
    if report.functions:
        lines.append(f"  defines: {', '.join(name + '()' for name in report.functions)}")
    for mode in report.modes:
        lines.append(f"in-place={'true' if mode.in_place else 'false'}:")
        for index, frame in enumerate(mode.frames):
            if frame.merged_meta is not None:
                status = "ok, merged meta:"
            elif frame.arrived:
                status = "passed without meta (the library failed on it)"
            elif mode.stopped:
                status = "did not come out (an error stopped the stream)"
            else:
                status = "did not come out (dropped)"
            lines.append(f"  frame {index} ({frame.description}): {status}")
            if frame.merged_meta is not None:
                lines.append("    " + json.dumps(frame.merged_meta))
    # The same failure on several frames is reported once.
    problems = Counter(report.problems + [text for mode in report.modes for text in mode.problems])
    for problem, count in problems.items():
        times = f" ({count} times)" if count > 1 else ""
        lines.append(f"PROBLEM{times}: " + problem.replace("\n", "\n  "))
    total = sum(problems.values())
    lines.append(f"check: {'ok' if report.ok else f'{total} problem(s)'}")
    return "\n".join(lines)

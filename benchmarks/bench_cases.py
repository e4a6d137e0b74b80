"""The pipelines the benchmark times (bench.py) and profiles (profile_element.py).

Every case is `videotestsrc pattern=black ! caps ! <middle> ! fakesink`, run in this process.
A case's cost is measured over its `baseline` case in the same repetition, so whatever both
share (source, caps, upstream ROI element, sink) cancels.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import empycustom
from empycustom import _native
from empycustom.elements.empycustom import EmPyCustom
from empycustom.gst.runtime import GObject, Gst, GstBase, GstVideo, filter_pad_templates

LIBRARIES = Path(__file__).resolve().parent / "libraries"
SINK_NAME = "benchsink"
ELEMENT_NAME = "e"


@dataclass(frozen=True)
class FrameSize:
    name: str
    width: int
    height: int

    @property
    def caps(self) -> str:
        return f"video/x-raw,format=RGBA,width={self.width},height={self.height},framerate=30/1"

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 4


SMALL = FrameSize("64x48", 64, 48)
HD = FrameSize("1920x1080", 1920, 1080)

Prepare = Callable[[Gst.Pipeline, FrameSize], None]


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # one line for the legend
    middle: str  # elements between the caps filter and the sink
    baseline: str | None  # the case it is measured over; None for the reference itself
    size: FrameSize = SMALL
    scale: float = 1.0  # share of --buffers this case runs (costly cases run fewer)
    prepare: Prepare | None = None
    sink: str = f"fakesink name={SINK_NAME} sync=false"
    rois: int | None = None  # ROIs attached upstream, checked against what the library saw

    def description(self, buffers: int) -> str:
        return (
            f"videotestsrc pattern=black num-buffers={buffers} ! {self.size.caps} ! "
            f"{self.middle} ! {self.sink}"
        )

    def buffers(self, base: int) -> int:
        return max(10, round(base * self.scale))

    @property
    def is_empycustom(self) -> bool:
        return f"empycustom name={ELEMENT_NAME}" in self.middle


# Helper elements, registered in this process.

ANY_CAPS = Gst.Caps.new_any()


class BenchNoop(GstBase.BaseTransform):
    """The gst-python floor: a Python in-place transform that does nothing."""

    __gtype_name__ = "EmPyCustomBenchNoop"
    __gstmetadata__ = ("BenchNoop", "Filter", "Does nothing, in Python", "empycustom")
    __gsttemplates__ = filter_pad_templates(ANY_CAPS)

    def __init__(self) -> None:
        super().__init__()
        self.set_in_place(True)

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        return Gst.FlowReturn.OK


class BenchNoopKeepingState(BenchNoop):
    """The floor when the streaming thread keeps its Python thread state, as empycustom does."""

    __gtype_name__ = "EmPyCustomBenchNoopKeepingState"
    __gstmetadata__ = ("BenchNoopKeepingState", "Filter", "Does nothing, in Python", "empycustom")

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        _native.keep_thread_state()
        return Gst.FlowReturn.OK


class BenchRois(BenchNoop):
    """Attaches `count` ROI metas (type "person", a `detection` param each) to every buffer.

    The metas are copied from a template buffer in one call, so the cost stays small and, being
    upstream of both a case and its baseline, cancels: it keeps its thread's Python thread
    state, so that it costs the same before C identity and before empycustom (which keeps it).
    """

    __gtype_name__ = "EmPyCustomBenchRois"
    __gstmetadata__ = ("BenchRois", "Filter", "Attaches ROI metas", "empycustom")
    __gproperties__ = {
        "count": (int, "Count", "ROI metas added to every buffer.", 0, 100000, 0,
                  GObject.ParamFlags.READWRITE),
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._template: Gst.Buffer | None = None

    def do_get_property(self, prop: GObject.ParamSpec) -> Any:
        return self._count

    def do_set_property(self, prop: GObject.ParamSpec, value: Any) -> None:
        self._count = value
        self._template = rois_template(value) if value else None

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        _native.keep_thread_state()
        if self._template is not None:
            buffer.copy_into(self._template, Gst.BufferCopyFlags.META, 0, 0)
        return Gst.FlowReturn.OK


def rois_template(count: int) -> Gst.Buffer:
    template = Gst.Buffer.new()
    for index in range(count):
        meta = GstVideo.buffer_add_video_region_of_interest_meta(
            template, "person", index % 60, (index // 60) % 44, 4, 4
        )
        meta.id = index
        meta.add_param(
            Gst.Structure.new_from_string("detection, label_id=(uint)1, confidence=(double)0.75")
        )
    return template


def register() -> None:
    """Register empycustom and the helper elements in this process."""
    empycustom.register()
    for name, cls in (
        ("benchnoop", BenchNoop),
        ("benchnoopkeepingstate", BenchNoopKeepingState),
        ("benchrois", BenchRois),
    ):
        if Gst.ElementFactory.find(name) is None:
            Gst.Element.register(None, name, Gst.Rank.NONE, cls)
    element = Gst.ElementFactory.make("empycustom")
    if not isinstance(element, EmPyCustom):
        raise RuntimeError(
            "the registered empycustom element is not this checkout's "
            f"({empycustom.__file__}); unset GST_PLUGIN_PATH"
        )


# What the baselines and cases do per buffer, outside the elements.


def _ignore_meta(element: Gst.Element, meta_json: str) -> None:
    pass


def connect_new_meta(pipeline: Gst.Pipeline, size: FrameSize) -> None:
    """An application listening to new-meta (a handler that does nothing)."""
    pipeline.get_by_name(ELEMENT_NAME).connect("new-meta", _ignore_meta)


def probe_numpy_view(pipeline: Gst.Pipeline, size: FrameSize, keep_state: bool = False) -> None:
    """What DeepStream and Hailo apps do: a buffer probe that maps and views the frame.

    With `keep_state`, the probe keeps its thread's Python state as empycustom does.
    """
    shape = (size.height, size.width, 4)

    def on_buffer(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        if keep_state:
            _native.keep_thread_state()
        buffer = info.get_buffer()
        with buffer.map(Gst.MapFlags.READ) as mapping:
            frame = np.ndarray(shape, np.uint8, mapping.data)
            del frame  # no view may outlive the map
        return Gst.PadProbeReturn.OK

    pad = pipeline.get_by_name("probe").get_static_pad("src")
    pad.add_probe(Gst.PadProbeType.BUFFER, on_buffer)


def probe_numpy_view_keeping_state(pipeline: Gst.Pipeline, size: FrameSize) -> None:
    probe_numpy_view(pipeline, size, keep_state=True)


def appsink_to_appsrc(pipeline: Gst.Pipeline, size: FrameSize) -> None:
    """Frames leave GStreamer through appsink, are viewed in Python and pushed back by appsrc."""
    shape = (size.height, size.width, 4)
    appsink = pipeline.get_by_name("benchappsink")
    appsrc = pipeline.get_by_name("benchappsrc")
    appsrc.set_property("caps", Gst.Caps.from_string(size.caps))

    def on_sample(sink: Gst.Element) -> Gst.FlowReturn:
        buffer = sink.emit("pull-sample").get_buffer()
        with buffer.map(Gst.MapFlags.READ) as mapping:
            frame = np.ndarray(shape, np.uint8, mapping.data)
            del frame
        return appsrc.emit("push-buffer", buffer)

    appsink.connect("new-sample", on_sample)
    appsink.connect("eos", lambda sink: appsrc.emit("end-of-stream"))


def _empycustom(library: str, extra: str = "", in_place: bool = True) -> str:
    in_place_text = "true" if in_place else "false"
    return (
        f'empycustom name={ELEMENT_NAME} custom-lib="{LIBRARIES / library}" '
        f"in-place={in_place_text} {extra}"
    ).strip()


ROI_COUNTS = (0, 1, 20, 200)
ROI_SCALE = {0: 1.0, 1: 1.0, 20: 0.25, 200: 0.1}
HD_SCALE = 0.1

CASES: list[Case] = [
    Case("identity", "C identity (the reference every small case is measured over)",
         "identity", None),
    Case("transform-ip-floor", "bare Python BaseTransform, do_transform_ip does nothing",
         "benchnoop", "identity"),
    Case("transform-ip-floor-kept-state", "as transform-ip-floor, its thread keeping its Python "
         "thread state as empycustom does", "benchnoopkeepingstate", "identity"),
    Case("pad-probe", "buffer probe on identity: map READ, numpy view, unmap",
         "identity name=probe", "identity", prepare=probe_numpy_view),
    Case("pad-probe-kept-state", "as pad-probe, its thread keeping its Python thread state "
         "as empycustom does", "identity name=probe", "identity",
         prepare=probe_numpy_view_keeping_state),
    Case("appsink-appsrc", "appsink new-sample: pull, map READ, numpy view, appsrc push-buffer",
         "appsink name=benchappsink emit-signals=true sync=false "
         "appsrc name=benchappsrc format=time block=true",
         "identity", prepare=appsink_to_appsrc,
         sink=f"fakesink name={SINK_NAME} sync=false async=false"),
    Case("noop", "empycustom in place, library returns '', new-meta handler connected",
         _empycustom("noop.py"), "identity", prepare=connect_new_meta),
    Case("noop-dict", "as noop, library returns a small dict",
         _empycustom("noop_dict.py"), "identity", prepare=connect_new_meta),
    Case("noop-silent", "as noop, silent=true and no handler",
         _empycustom("noop.py", "silent=true"), "identity"),
    Case("frame-write", "library writes one pixel through empycustom.frame, handler connected",
         _empycustom("frame_write.py"), "identity", prepare=connect_new_meta),
    Case("skip", "process-interval=1000000: buffers pass unprocessed",
         _empycustom("noop.py", "process-interval=1000000"), "identity",
         prepare=connect_new_meta),
    *[
        Case(f"rois-{n}-identity", f"upstream element adds {n} ROI metas, then C identity",
             f"benchrois count={n} ! identity", "identity", scale=ROI_SCALE[n])
        for n in ROI_COUNTS
    ],
    *[
        Case(f"rois-{n}", f"{n} upstream ROIs, one result per object, handler connected",
             f"benchrois count={n} ! {_empycustom('per_object.py')}", f"rois-{n}-identity",
             scale=ROI_SCALE[n], prepare=connect_new_meta, rois=n)
        for n in ROI_COUNTS
    ],
    Case("identity-1080p", "C identity at 1920x1080 RGBA (reference of the 1080p cases)",
         "identity", None, size=HD, scale=HD_SCALE),
    Case("in-place-1080p", "noop library in place at 1080p, handler connected",
         _empycustom("noop.py"), "identity-1080p", size=HD, scale=HD_SCALE,
         prepare=connect_new_meta),
    Case("copy-in-place-1080p", "in place at 1080p, the library copies a numpy frame into the "
         "buffer: one frame copy under the same conditions", _empycustom("copy_in_place.py"),
         "identity-1080p", size=HD, scale=HD_SCALE, prepare=connect_new_meta),
    Case("process-buffer-1080p", "not in place at 1080p, process() returns in_buffer",
         _empycustom("process_buffer.py", in_place=False), "identity-1080p", size=HD,
         scale=HD_SCALE, prepare=connect_new_meta),
    Case("process-numpy-1080p", "not in place at 1080p, process() returns a numpy frame",
         _empycustom("process_numpy.py", in_place=False), "identity-1080p", size=HD,
         scale=HD_SCALE, prepare=connect_new_meta),
]  # fmt: skip
CASES_BY_NAME = {case.name: case for case in CASES}


class PipelineFailed(RuntimeError):
    """A case's pipeline posted an error or did not finish."""


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


@dataclass
class Measurement:
    """Per buffer, in microseconds: CPU time of this process, and wall-clock time."""

    cpu_us: float
    wall_us: float
    objects_seen: int | None = None  # objects in the last in_meta (empycustom cases)
    results_merged: int | None = None  # objects that got an "emcustom" result

    def us(self, clock: str) -> float:
        return self.cpu_us if clock == "cpu" else self.wall_us


def build(case: Case, buffers: int) -> Gst.Pipeline:
    pipeline = Gst.parse_launch(case.description(buffers))
    if case.prepare is not None:
        case.prepare(pipeline, case.size)
    return pipeline


def _now() -> dict[str, float]:
    return {name: clock() for name, clock in CLOCKS.items()}


def run_case(case: Case, buffers: int) -> Measurement:
    """Run `case` with `buffers` buffers, timed from PLAYING (after preroll) to EOS at the sink.

    The first buffer is processed during preroll, so the timed part holds `buffers - 1`. The EOS
    time is taken by an event-only probe, which costs buffers nothing in Python. CPU time is the
    whole process's (streaming threads included; the main thread sleeps on the bus meanwhile):
    on a shared machine it is far steadier than wall-clock time, which also counts waiting for
    a CPU.
    """
    pipeline = build(case, buffers)
    eos_at: list[dict[str, float]] = []

    def on_event(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        if info.get_event().type == Gst.EventType.EOS:
            eos_at.append(_now())
        return Gst.PadProbeReturn.OK

    sink_pad = pipeline.get_by_name(SINK_NAME).get_static_pad("sink")
    sink_pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_event)
    bus = pipeline.get_bus()
    gc.collect()
    try:
        pipeline.set_state(Gst.State.PAUSED)
        _wait(bus, Gst.MessageType.ASYNC_DONE, case)
        started = _now()
        pipeline.set_state(Gst.State.PLAYING)
        _wait(bus, Gst.MessageType.EOS, case)
    finally:
        pipeline.set_state(Gst.State.NULL)
    per_buffer = {name: (eos_at[0][name] - started[name]) / (buffers - 1) * 1e6 for name in CLOCKS}
    measurement = Measurement(cpu_us=per_buffer["cpu"], wall_us=per_buffer["wall"])
    if case.is_empycustom:
        last_meta = pipeline.get_by_name(ELEMENT_NAME).get_property("last-meta")
        objects = json.loads(last_meta)["frame"][0]["object"] if last_meta else []
        measurement.objects_seen = len(objects)
        measurement.results_merged = sum(1 for obj in objects if "emcustom" in obj)
    return measurement


def _wait(bus: Gst.Bus, wanted: Gst.MessageType, case: Case, timeout_s: float = 120) -> None:
    message = bus.timed_pop_filtered(int(timeout_s * Gst.SECOND), wanted | Gst.MessageType.ERROR)
    if message is None:
        raise PipelineFailed(f"case {case.name}: no {wanted.first_value_nick} in {timeout_s} s")
    if message.type == Gst.MessageType.ERROR:
        error, debug = message.parse_error()
        raise PipelineFailed(f"case {case.name}: {error.message}\n{debug}")


def frame_copy_us(size: FrameSize, repeats: int, clock: str) -> dict[str, float]:
    """Median time of one frame copy with numpy: into a reused array, and into a fresh one."""
    now = time.thread_time if clock == "cpu" else time.perf_counter  # only this thread copies
    source = np.ones(size.frame_bytes, np.uint8)
    target = np.empty_like(source)
    np.copyto(target, source)
    reused, fresh = [], []
    for _ in range(repeats):
        started = now()
        np.copyto(target, source)
        reused.append(now() - started)
        started = now()
        copy = source.copy()
        fresh.append(now() - started)
        del copy
    return {
        "reused_us": float(np.median(reused) * 1e6),
        "fresh_us": float(np.median(fresh) * 1e6),
    }

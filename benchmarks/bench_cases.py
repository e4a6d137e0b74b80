"""The pipelines the benchmark times (bench.py) and profiles (profile_element.py).

Every case is `videotestsrc pattern=black ! caps ! <middle> ! fakesink`, run in this process.
A case's cost is measured over its `baseline` case in the same repetition, so whatever both
share (source, caps, upstream ROI element, sink) cancels.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson

import empycustom
from empycustom import _native
from empycustom.elements.empycustom import EmPyCustom
from empycustom.gst.runtime import GObject, Gst, GstBase, GstVideo, filter_pad_templates
from empycustom.meta.inmeta import wall_clock_timestamp

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
VGA = FrameSize("640x480", 640, 480)
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
    careful: str | None = None  # the hand-written baseline doing the same work at its best
    peer: str | None = None  # the modelpipe case doing the same work
    needs: str | None = None  # an optional package the case needs ("modelpipe")

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


# The careful hand-written baselines: what a good engineer writes with gst-python alone.
# They keep their streaming thread's Python thread state (PyGILState_Ensure() once per
# thread, never released: PyGObject then no longer creates and deletes one per callback)
# and look their GI enum values up once.

FLOW_OK = Gst.FlowReturn.OK
PROBE_OK = Gst.PadProbeReturn.OK
MAP_READ = Gst.MapFlags.READ
MAP_READ_WRITE = Gst.MapFlags.READ | Gst.MapFlags.WRITE
_held = threading.local()
_ensure_gil_state = ctypes.pythonapi.PyGILState_Ensure


def hold_thread_state() -> None:
    """Once per thread: one PyGILState_Ensure() that is never released keeps the state."""
    if not getattr(_held, "done", False):
        _ensure_gil_state()
        _held.done = True


class BenchNoopCareful(BenchNoop):
    """The gst-python floor at its best: thread state kept, FlowReturn looked up once."""

    __gtype_name__ = "EmPyCustomBenchNoopCareful"
    __gstmetadata__ = ("BenchNoopCareful", "Filter", "Does nothing, in Python", "empycustom")

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        hold_thread_state()
        return FLOW_OK


def frame_meta(frame_num: int, pts: int | None, size: FrameSize) -> dict[str, Any]:
    """The dict a hand-written probe builds: the same keys and values as empycustom's in_meta."""
    return {
        "frame": [
            {
                "frame_num": frame_num,
                "buf_pts": pts,
                "timestamp": wall_clock_timestamp(),
                "source_frame_width": size.width,
                "source_frame_height": size.height,
                "format": "RGBA",
                "width": size.width,
                "height": size.height,
                "planes": [{"stride": size.width * 4, "offset": 0}],
                "object": [],
            }
        ]
    }


def _no_result(frame: Any, meta: dict[str, Any]) -> Any:
    return ""


SMALL_RESULT = {"label": "person", "score": 0.5, "count": 1}  # libraries/noop_dict.py's


def _small_result(frame: Any, meta: dict[str, Any]) -> Any:
    return SMALL_RESULT


def _read_pixel(frame: np.ndarray, meta: dict[str, Any]) -> Any:
    int(frame[0, 0, 0])
    return ""


def _write_pixel(frame: np.ndarray, meta: dict[str, Any]) -> Any:
    frame[0, 0] = 255
    return ""


def _mean(frame: np.ndarray, meta: dict[str, Any]) -> Any:
    return {"mean": float(frame.mean())}


class CarefulWork:
    """Per buffer, what a hand-written probe or transform does for the same result as empycustom:
    the frame's dict, the user's function (on a numpy view of the mapped frame when `view`),
    its result merged, the JSON text, and a Python callback given that text."""

    def __init__(self, size: FrameSize, user: Callable, view: bool, flags: Any = MAP_READ) -> None:
        self.size, self.user, self.view, self.flags = size, user, view, flags
        self.shape = (size.height, size.width, 4)
        self.frame_num = 0
        self.texts = 0

    def on_meta(self, text: str) -> None:  # the application's callback
        self.texts += 1

    def __call__(self, buffer: Gst.Buffer) -> None:
        meta = frame_meta(self.frame_num, buffer.pts, self.size)
        self.frame_num += 1
        if self.view:
            with buffer.map(self.flags) as mapping:
                frame = np.ndarray(self.shape, np.uint8, mapping.data)
                result = self.user(frame, meta)
                del frame  # no view may outlive the map
        else:
            result = self.user(buffer, meta)
        if result:
            meta["frame"][0]["emcustom"] = result
        self.on_meta(orjson.dumps(meta).decode())


def careful_probe(pipeline: Gst.Pipeline, size: FrameSize, user: Callable, view: bool) -> None:
    """A buffer probe on `identity name=probe` doing CarefulWork."""
    work = CarefulWork(size, user, view)

    def on_buffer(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        hold_thread_state()
        work(info.get_buffer())
        return PROBE_OK

    pipeline.get_by_name("probe").get_static_pad("src").add_probe(
        Gst.PadProbeType.BUFFER, on_buffer
    )


def careful_view_probe(pipeline: Gst.Pipeline, size: FrameSize) -> None:
    """The pad-probe case at its best: map READ, numpy view, unmap; nothing else."""
    shape = (size.height, size.width, 4)

    def on_buffer(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        hold_thread_state()
        with info.get_buffer().map(MAP_READ) as mapping:
            frame = np.ndarray(shape, np.uint8, mapping.data)
            del frame
        return PROBE_OK

    pipeline.get_by_name("probe").get_static_pad("src").add_probe(
        Gst.PadProbeType.BUFFER, on_buffer
    )


class BenchCareful(BenchNoop):
    """A Python in-place transform doing CarefulWork (set by the case's prepare) with the
    writable buffer it is given: what a probe cannot do, e.g. write a pixel."""

    __gtype_name__ = "EmPyCustomBenchCareful"
    __gstmetadata__ = ("BenchCareful", "Filter", "Hand-written per-buffer work", "empycustom")
    work: CarefulWork | None = None

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        hold_thread_state()
        self.work(buffer)
        return FLOW_OK


def careful_transform(pipeline: Gst.Pipeline, size: FrameSize, user: Callable) -> None:
    pipeline.get_by_name("careful").work = CarefulWork(size, user, True, MAP_READ_WRITE)


def set_options(options: dict[str, Any], pipeline: Gst.Pipeline, size: FrameSize) -> None:
    element = pipeline.get_by_name(ELEMENT_NAME)
    element.set_property("options", json.dumps(options))
    element.connect("new-meta", _ignore_meta)


# modelpipe (Collabora's Python ML elements), a real peer: its in-place hook, installed by
# `make bench` with pip --no-deps. Its modules are top-level names under plugins/python.

MODELPIPE_VERSION = "2.0.0"


def modelpipe_classes() -> dict[str, type] | str:
    """modelpipe's bench elements by factory name, or why they are not available."""
    try:
        import modelpipe
    except ImportError:
        return (f"modelpipe is not installed (make bench installs modelpipe=={MODELPIPE_VERSION} "
                "with pip --no-deps)")  # fmt: skip
    plugins = os.path.join(os.path.dirname(modelpipe.__file__), "plugins", "python")
    if plugins not in sys.path:
        sys.path.append(plugins)
    try:
        from backend.gst import InPlaceVideoTransform, analytics
    except Exception as error:  # its own imports: any failure means "not available here"
        return f"modelpipe's InPlaceVideoTransform cannot be imported: {error}"

    class ModelpipeFrameWrite(InPlaceVideoTransform):
        """modelpipe's in-place hook given the mapped frame; writes one pixel."""

        __gtype_name__ = "EmPyCustomBenchModelpipeFrameWrite"
        __gstmetadata__ = ("ModelpipeFrameWrite", "Filter", "modelpipe hook", "empycustom")

        def process_in_place(self, frame: np.ndarray, format: str, buffer: Gst.Buffer) -> None:
            frame[0, 0] = 255

    class ModelpipeNoop(InPlaceVideoTransform):
        """modelpipe's in-place hook without the frame (READS_PIXELS = False); does nothing."""

        __gtype_name__ = "EmPyCustomBenchModelpipeNoop"
        __gstmetadata__ = ("ModelpipeNoop", "Filter", "modelpipe hook", "empycustom")
        READS_PIXELS = False

        def process_in_place(self, frame: Any, format: str, buffer: Gst.Buffer) -> None:
            pass

    class ModelpipeResult(ModelpipeNoop):
        """modelpipe's hook writing one analytics result (its 1.22 fallback: a JSON chunk)."""

        __gtype_name__ = "EmPyCustomBenchModelpipeResult"
        __gstmetadata__ = ("ModelpipeResult", "Filter", "modelpipe hook", "empycustom")

        def process_in_place(self, frame: Any, format: str, buffer: Gst.Buffer) -> None:
            meta = analytics.add_relation_meta(buffer)
            analytics.add_object(meta, "person", 0, 0, 4, 4, 0.5)

    return {
        "benchmodelpipeframewrite": ModelpipeFrameWrite,
        "benchmodelpipenoop": ModelpipeNoop,
        "benchmodelpiperesult": ModelpipeResult,
    }


def register() -> None:
    """Register empycustom and the helper elements in this process."""
    empycustom.register()
    elements: dict[str, type] = {
        "benchnoop": BenchNoop,
        "benchnoopcareful": BenchNoopCareful,
        "benchcareful": BenchCareful,
        "benchrois": BenchRois,
    }
    peers = modelpipe_classes()
    if isinstance(peers, dict):
        elements.update(peers)
    for name, cls in elements.items():
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


def probe_numpy_view(pipeline: Gst.Pipeline, size: FrameSize) -> None:
    """What DeepStream and Hailo apps do, written naively: a buffer probe that maps and views
    the frame (a Python thread state made and deleted per buffer, enums looked up each time)."""
    shape = (size.height, size.width, 4)

    def on_buffer(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        buffer = info.get_buffer()
        with buffer.map(Gst.MapFlags.READ) as mapping:
            frame = np.ndarray(shape, np.uint8, mapping.data)
            del frame  # no view may outlive the map
        return Gst.PadProbeReturn.OK

    pad = pipeline.get_by_name("probe").get_static_pad("src")
    pad.add_probe(Gst.PadProbeType.BUFFER, on_buffer)


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


ROI_COUNTS = (0, 1, 20, 200, 1000)
# 1000 objects: 400 buffers, as at 200: timed runs of 0.1 s (100 buffers) spread by up to 19%
# between repetitions, of 0.5 s by about 5%
ROI_SCALE = {0: 1.0, 1: 1.0, 20: 0.05, 200: 0.02, 1000: 0.02}
HD_SCALE = 0.02
VGA_SCALE = 0.1
OUT_META_SIZES = {"1k": 1_000, "100k": 100_000}  # bytes of out_meta JSON
OUT_META_SCALE = {"1k": 1.0, "100k": 0.02}
# How the out-meta cases' library returns the same content.
OUT_META_KINDS = {
    "dict": "a dict (the same content)",
    "text": "JSON text",
    "pylit": "Python-literal text, str([content])",
}


def _probe(user: Callable, view: bool) -> Prepare:
    return lambda pipeline, size: careful_probe(pipeline, size, user, view)


def _transform(user: Callable) -> Prepare:
    return lambda pipeline, size: careful_transform(pipeline, size, user)


CASES: list[Case] = [
    Case("identity", "C identity (the reference every small case is measured over)",
         "identity", None),
    # Baselines: the careful hand-written ones, then the naive ones (for information).
    Case("transform-ip-floor-careful", "bare Python BaseTransform, do_transform_ip does nothing; "
         "thread state kept, enums cached: the gst-python floor at its best",
         "benchnoopcareful", "identity"),
    Case("probe-meta", "careful probe on identity: the frame's dict, a Python function, JSON, "
         "a Python callback given the text (noop's work, by hand)", "identity name=probe",
         "identity", prepare=_probe(_no_result, view=False)),
    Case("probe-meta-dict", "as probe-meta, the function's small dict merged into the frame's "
         "(noop-dict's work)", "identity name=probe", "identity",
         prepare=_probe(_small_result, view=False)),
    Case("probe-frame", "careful probe: map READ, numpy view, one pixel read, dict, JSON, "
         "callback (frame-read's work)", "identity name=probe", "identity",
         prepare=_probe(_read_pixel, view=True)),
    Case("transform-frame-write", "careful Python transform: map READ|WRITE, numpy view, one "
         "pixel written, dict, JSON, callback (frame-write's work)", "benchcareful name=careful",
         "identity", prepare=_transform(_write_pixel)),
    Case("pad-probe-careful", "careful probe: map READ, numpy view, unmap, nothing else",
         "identity name=probe", "identity", prepare=careful_view_probe),
    Case("transform-ip-floor", "as transform-ip-floor-careful, written naively (a Python thread "
         "state made and deleted per buffer, enums looked up per buffer)", "benchnoop",
         "identity"),
    Case("pad-probe", "naive probe on identity: map READ, numpy view, unmap",
         "identity name=probe", "identity", prepare=probe_numpy_view),
    Case("appsink-appsrc", "appsink new-sample: pull, map READ, numpy view, appsrc push-buffer",
         "appsink name=benchappsink emit-signals=true sync=false "
         "appsrc name=benchappsrc format=time block=true",
         "identity", prepare=appsink_to_appsrc,
         sink=f"fakesink name={SINK_NAME} sync=false async=false"),
    # The peer: modelpipe's in-place hook.
    Case("modelpipe-noop", f"modelpipe {MODELPIPE_VERSION} in-place hook without the frame, "
         "does nothing", "benchmodelpipenoop", "identity", needs="modelpipe"),
    Case("modelpipe-result", "modelpipe in-place hook writing one analytics result (on 1.22 its "
         "JSON-chunk fallback)", "benchmodelpiperesult", "identity", needs="modelpipe"),
    Case("modelpipe-frame-write", "modelpipe in-place hook given the mapped frame, writes one "
         "pixel", "benchmodelpipeframewrite", "identity", needs="modelpipe"),
    # empycustom.
    Case("noop", "empycustom in place, library returns '', new-meta handler connected",
         _empycustom("noop.py"), "identity", prepare=connect_new_meta, careful="probe-meta",
         peer="modelpipe-noop"),
    Case("noop-dict", "as noop, library returns a small dict",
         _empycustom("noop_dict.py"), "identity", prepare=connect_new_meta,
         careful="probe-meta-dict", peer="modelpipe-result"),
    Case("noop-silent", "as noop, silent=true and no handler",
         _empycustom("noop.py", "silent=true"), "identity"),
    Case("frame-read", "library reads one pixel through empycustom.frame, handler connected",
         _empycustom("frame_read.py"), "identity", prepare=connect_new_meta,
         careful="probe-frame"),
    Case("frame-write", "library writes one pixel through empycustom.frame, handler connected",
         _empycustom("frame_write.py"), "identity", prepare=connect_new_meta,
         careful="transform-frame-write", peer="modelpipe-frame-write"),
    Case("skip", "process-interval=1000000: buffers pass unprocessed",
         _empycustom("noop.py", "process-interval=1000000"), "identity",
         prepare=connect_new_meta, careful="transform-ip-floor-careful"),
    *[
        Case(f"out-meta-{kind}-{label}", f"library returns {size:,} bytes of results as "
             + OUT_META_KINDS[kind],
             _empycustom("out_meta.py"), "identity", scale=OUT_META_SCALE[label],
             prepare=partial(set_options, {"bytes": size, "as": kind}))
        for label, size in OUT_META_SIZES.items()
        for kind in OUT_META_KINDS
    ],
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
    Case("identity-640x480", "C identity at 640x480 RGBA (reference of the 640x480 cases)",
         "identity", None, size=VGA, scale=VGA_SCALE),
    Case("noop-640x480", "noop at 640x480", _empycustom("noop.py"), "identity-640x480",
         size=VGA, scale=VGA_SCALE, prepare=connect_new_meta),
    Case("mean-640x480", "library returns the frame's mean (numpy, through empycustom.frame)",
         _empycustom("mean.py"), "identity-640x480", size=VGA, scale=VGA_SCALE,
         prepare=connect_new_meta),
    Case("identity-1080p", "C identity at 1920x1080 RGBA (reference of the 1080p cases)",
         "identity", None, size=HD, scale=HD_SCALE),
    Case("probe-mean-1080p", "careful probe at 1080p: numpy view, its mean, dict, JSON, callback",
         "identity name=probe", "identity-1080p", size=HD, scale=HD_SCALE,
         prepare=_probe(_mean, view=True)),
    Case("in-place-1080p", "noop library in place at 1080p, handler connected",
         _empycustom("noop.py"), "identity-1080p", size=HD, scale=HD_SCALE,
         prepare=connect_new_meta),
    Case("mean-1080p", "library returns the frame's mean at 1080p (numpy, through "
         "empycustom.frame)", _empycustom("mean.py"), "identity-1080p", size=HD, scale=HD_SCALE,
         prepare=connect_new_meta, careful="probe-mean-1080p"),
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


def frame_floors_us(size: FrameSize, repeats: int, clock: str) -> dict[str, float]:
    """Median times of what a frame costs without any element, with numpy: one copy into a
    reused array and into a fresh one, one read pass over every byte (a reduction over 64-bit
    words), and the frame's mean (what the mean cases compute)."""
    now = time.thread_time if clock == "cpu" else time.perf_counter  # only this thread works
    source = np.ones(size.frame_bytes, np.uint8)
    target = np.empty_like(source)
    words = source.view(np.uint64)
    image = source.reshape(size.height, size.width, 4)
    np.copyto(target, source)
    work = {
        "frame_copy_us": lambda: np.copyto(target, source),
        "frame_copy_fresh_us": source.copy,
        "read_pass_us": lambda: np.bitwise_or.reduce(words),
        "mean_us": image.mean,
    }
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(repeats):
        for name, function in work.items():
            started = now()
            function()
            times[name].append(now() - started)
    return {name: float(np.median(values) * 1e6) for name, values in times.items()}

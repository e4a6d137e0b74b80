"""The `empycustom` element: calls a custom Python library on video buffers.

GStreamer glue only. The rules it applies live in plain modules: `options` (property values),
`library` (the custom-library contract), `inmeta`, `outmeta` and `merge` (metadata).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from empycustom import _native
from empycustom.elements.parallel import Parallel, ThreadWorker, start_processes
from empycustom.frames.layout import FrameLayout
from empycustom.frames.maps import LentBuffer, OpenMaps, forgotten_maps_text, kept_views_text
from empycustom.frames.views import FORMATS, OutputFrameError, copy_frame, write_output
from empycustom.gst.clib import gobject_pointer
from empycustom.gst.debug import DEBUG, LOG, DebugCategory
from empycustom.gst.enums import register_enum
from empycustom.gst.messages import post_error, post_warning, report_error, report_warning
from empycustom.gst.params import RW_PLAYING, RW_READY
from empycustom.gst.runtime import GObject, Gst, GstBase, filter_pad_templates
from empycustom.gst.signals import add_text_signal, emit_text_reporting_errors
from empycustom.library.loader import (
    CustomLibrary,
    LibraryError,
    load_library,
    required_function,
    stop_library,
)
from empycustom.library.options import PropertyValueError, parse_json_object
from empycustom.library.reload import CHECK_INTERVAL_S, FileWatcher, load_new_version
from empycustom.library.starter import START_WAIT_S, BackgroundStart
from empycustom.library.watchdog import CallWatch, SlowCall
from empycustom.meta import analytics
from empycustom.meta.chain import results_to_write
from empycustom.meta.editing import close_one_frame, open_one_frame
from empycustom.meta.inmeta import in_meta_template
from empycustom.meta.merge import add_events, merge_results
from empycustom.meta.objects import ANALYTICS, parse_labels, write_results
from empycustom.meta.outmeta import (
    LARGE_TEXT,
    OutMetaError,
    keep_text,
    meta_json,
    meta_text,
    parse_out_meta,
    to_json,
)
from empycustom.meta.reading import read_frame

# GST_DEBUG=empycustom:6 or, as the reference's debugging section prints, GST_DEBUG=*python*:6.
CAT = DebugCategory("empycustom", "Custom Python processing of video buffers", also="python")
CHECK_INTERVAL_MS = round(CHECK_INTERVAL_S * 1000)

SUPPORTED_FORMATS = FORMATS
CAPS = Gst.Caps.from_string(
    f"video/x-raw, format=(string){{ {', '.join(SUPPORTED_FORMATS)} }}, "
    "width=(int)[ 1, 2147483647 ], height=(int)[ 1, 2147483647 ], "
    "framerate=(fraction)[ 0/1, 2147483647/1 ]"
)

ON_ERROR = register_enum(
    "GstEmPyCustomOnError",
    [
        ("error", "Post an error and stop the stream"),
        ("warn", "Post a warning and pass the frame unchanged"),
        ("drop", "Post a warning and drop the frame"),
    ],
)
WORKER_KIND = register_enum(
    "GstEmPyCustomWorkerKind",
    [
        ("thread", "Worker threads in this process, for work that releases the GIL"),
        ("process", "Worker processes, frames in shared memory, for pure-Python work"),
    ],
)
RELOAD = register_enum(
    "GstEmPyCustomReload",
    [
        ("off", "Never reload on its own"),
        ("on-change", "Reload once the file has changed and stayed the same between two looks"),
    ],
)
# Looked up once: each Gst.<Enum>.<VALUE> goes through gi's override proxy (~1 us).
FLOW_OK = Gst.FlowReturn.OK
FLOW_ERROR = Gst.FlowReturn.ERROR
FLOW_FLUSHING = Gst.FlowReturn.FLUSHING
FLOW_DROPPED = Gst.FlowReturn.CUSTOM_SUCCESS  # GST_BASE_TRANSFORM_FLOW_DROPPED
G_MAXINT = 2147483647
IN_PLACE_FUNCTION = required_function(True)  # process_ip
FUNCTION = required_function(False)  # process


@dataclass(frozen=True)
class Settings:
    """Property values. Replaced as a whole on every change, so one read is one snapshot."""

    custom_lib: str | None = None
    options_text: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    in_place: bool = False
    process_interval: int = 1
    silent: bool = False
    on_error: str = "error"
    reload: str = "off"
    labels_text: str | None = None
    label_ids: dict[str, int] = field(default_factory=dict)
    workers: int = 1
    worker_kind: str = "thread"
    worker_timeout_ms: int = 0
    batch_size: int = 1
    batch_timeout_ms: int = 0
    slow_call_ms: int = 10000

    @property
    def parallel(self) -> bool:
        """Frames go through ordered workers instead of transform_ip/transform."""
        return self.workers > 1 or self.batch_size > 1


@dataclass
class State:
    """What exists only between start and stop."""

    library: CustomLibrary | None  # the version running (None: it runs in worker processes)
    starter: BackgroundStart | None  # start() of the first version (None: worker processes)
    watcher: FileWatcher
    started: bool  # start() has returned without error
    frame_num: int = 0
    last_meta: bytes | bytearray | str | None = None  # keep_text()'s: UTF-8, decoded when read
    warned_maps: bool = False  # once per library version
    warned_views: bool = False  # once per library version
    warned_handler: bool = False
    warned_dropped: bool = False  # process() returned no buffer
    watch: CallWatch | None = None  # library calls in this element's threads
    open_maps: OpenMaps = field(default_factory=OpenMaps)  # lent to each call in turn


class EmPyCustom(GstBase.BaseTransform):
    __gtype_name__ = "GstEmPyCustom"
    __gstmetadata__ = (
        "EmPyCustom",
        "Filter/Video",
        "Runs a custom Python library on video buffers and merges the JSON it returns into "
        "the frame's metadata; signal new-meta(meta_json) hands that merged JSON to "
        "applications",
        "empycustom developers",
    )
    __gsttemplates__ = filter_pad_templates(CAPS)
    __gproperties__ = {
        "custom-lib": (
            str,
            "Custom library",
            "Path of the Python file that defines process_ip() (in-place=true) or process() "
            "(in-place=false), and optionally start() and stop(). Read when the element starts.",
            None,
            RW_READY,
        ),
        "options": (
            str,
            "Options",
            "JSON object (or Python dict literal) passed as the options dict to every function "
            "of the custom library. May change while playing.",
            None,
            RW_PLAYING,
        ),
        "events": (
            str,
            "Events",
            "JSON object delivered once, to the next processed buffer, and added to that frame's "
            'meta under "events". Values set before delivery are merged, later keys winning.',
            None,
            RW_PLAYING,
        ),
        "in-place": (
            bool,
            "In place",
            "Process buffers in place with process_ip(), or write a new output buffer with "
            "process(). Cannot change while running.",
            False,
            RW_READY,
        ),
        "process-interval": (
            int,
            "Process interval",
            "Process the 1st, (N+1)th, (2N+1)th ... buffer; the others pass untouched.",
            1,
            G_MAXINT,
            1,
            RW_PLAYING,
        ),
        "silent": (
            bool,
            "Silent",
            "Do not emit the new-meta signal.",
            False,
            RW_PLAYING,
        ),
        "last-meta": (
            str,
            "Last meta",
            "Merged JSON meta of the last processed buffer.",
            None,
            GObject.ParamFlags.READABLE,
        ),
        "on-error": (
            ON_ERROR.gtype,
            "On error",
            'What an exception in the custom library or unparsable out_meta does: "error" '
            'posts an error and stops the stream, "warn" posts a warning and passes the frame '
            'unchanged, "drop" posts a warning and drops the frame.',
            0,
            RW_PLAYING,
        ),
        "reload": (
            RELOAD.gtype,
            "Reload",
            'When a new version of custom-lib replaces the running one: "off" never; '
            '"on-change" once the file has changed and then stayed the same between two looks '
            f"(one look every {CHECK_INTERVAL_MS} ms at most). The new version takes over at a "
            "buffer boundary: its start() runs, then the old version's stop(). If it fails to "
            "import or start, the old one keeps running and a warning is posted. The reload "
            "action signal reloads at the next processed buffer, whatever this is.",
            0,
            RW_PLAYING,
        ),
        "workers": (
            int,
            "Workers",
            "How many frames are processed at once. 1: one at a time in the streaming thread. "
            "N > 1: N workers (see worker-kind) process frames side by side and frames leave in "
            "their input order, with their metas and timestamps; at most (workers + 1) x "
            "batch-size frames are held, upstream waits while they are. Set before starting.",
            1,
            64,
            1,
            RW_READY,
        ),
        "worker-kind": (
            WORKER_KIND.gtype,
            "Worker kind",
            '"thread": workers are threads of this process, for libraries whose work releases '
            'the GIL (numpy, OpenCV, torch). "process": each worker is a process that loads '
            "the library and runs its start() and stop(); frames reach it through shared "
            "memory, for pure-Python work. Set before starting.",
            0,
            RW_READY,
        ),
        "worker-timeout": (
            int,
            "Worker timeout",
            "Milliseconds a worker may spend on one frame (or batch) before the frame fails "
            "through on-error; a worker process is then killed and replaced, a worker thread "
            "is left to finish and replaced. 0: no limit. With workers=1 and batch-size=1 it "
            "is not used. Set before starting.",
            0,
            G_MAXINT,
            0,
            RW_READY,
        ),
        "batch-size": (
            int,
            "Batch size",
            "Frames per call of the library's process_batch(buffers, in_meta, options, events), "
            'in_meta holding them as the "frame" list; it returns one out_meta per frame. '
            "A partial batch is processed at end of stream, before other serialized events "
            "and after batch-timeout. 1: process_ip()/process(). Set before starting.",
            1,
            1024,
            1,
            RW_READY,
        ),
        "batch-timeout": (
            int,
            "Batch timeout",
            "Milliseconds a partial batch waits for more frames before it is processed (for "
            "live sources). 0: it waits until it is full or the stream ends. Set before "
            "starting.",
            0,
            G_MAXINT,
            0,
            RW_READY,
        ),
        "slow-call-warning": (
            int,
            "Slow call warning",
            "Milliseconds a call of the custom library (process_ip(), process(), stop()) may "
            "run before a warning naming the library, the function and the frame is posted, "
            "with the Python stack the call is at in its debug text; the call itself goes on "
            "(the stream, and a state change to NULL, wait for it). 0: never warn. May change "
            "while playing.",
            0,
            G_MAXINT,
            10000,
            RW_PLAYING,
        ),
        "labels": (
            str,
            "Labels",
            "Comma-separated class labels, the index of each being its class id, like a "
            "detector's labels file. An object whose ROI type is one of them gets that class_id "
            'unless a "detection" param of its ROI gives a label_id.',
            None,
            RW_PLAYING,
        ),
    }
    __gsignals__ = {
        # new-meta (one str) is added below the class, without a class handler.
        "reload": (GObject.SignalFlags.RUN_LAST | GObject.SignalFlags.ACTION, None, ()),
    }

    def __init__(self) -> None:
        super().__init__()
        self._settings = Settings()
        self._settings_lock = threading.Lock()
        self._state: State | None = None
        self._layout: FrameLayout | None = None
        self._in_meta_template: dict[str, Any] = {}  # in_meta_template(self._layout)
        self._pending_events: dict[str, Any] = {}
        self._events_lock = threading.Lock()
        self._reload_requested = False
        self._refused_before_start: list[str] = []
        self._parallel: Parallel | None = None
        self._address = gobject_pointer(self)
        self.set_in_place(False)

    # Properties

    def do_get_property(self, prop: GObject.ParamSpec) -> Any:
        settings = self._settings
        name = prop.name
        if name == "custom-lib":
            return settings.custom_lib
        if name == "options":
            return settings.options_text
        if name == "events":
            with self._events_lock:
                return to_json(self._pending_events)
        if name == "in-place":
            return settings.in_place
        if name == "process-interval":
            return settings.process_interval
        if name == "silent":
            return settings.silent
        if name == "last-meta":
            state = self._state
            return meta_text(state.last_meta if state is not None else self._last_meta_after_stop)
        if name == "on-error":
            return ON_ERROR.value(settings.on_error)
        if name == "reload":
            return RELOAD.value(settings.reload)
        if name == "labels":
            return settings.labels_text
        if name == "slow-call-warning":
            return settings.slow_call_ms
        if name == "worker-kind":
            return WORKER_KIND.value(settings.worker_kind)
        if name in RUN_SETTINGS:
            return getattr(settings, RUN_SETTINGS[name])
        raise AttributeError(f"unknown property {name}")

    _last_meta_after_stop: bytes | bytearray | str | None = None

    def do_set_property(self, prop: GObject.ParamSpec, value: Any) -> None:
        name = prop.name
        if (name in ("custom-lib", "in-place") or name in RUN_SETTINGS) and self._state is not None:
            self._refuse(
                f"property '{name}' cannot change while the element is running; "
                "set it before starting the pipeline"
            )
            return
        if name == "custom-lib":
            self._update(custom_lib=value)
        elif name == "in-place":
            self._update(in_place=value)
        elif name == "options":
            self._set_options(value)
        elif name == "events":
            self._add_events(value)
        elif name == "process-interval":
            self._update(process_interval=value)
        elif name == "silent":
            self._update(silent=value)
        elif name == "on-error":
            self._update(on_error=ON_ERROR.nick(value))
        elif name == "reload":
            self._update(reload=RELOAD.nick(value))
        elif name == "labels":
            self._update(labels_text=value, label_ids=parse_labels(value))
        elif name == "slow-call-warning":
            self._update(slow_call_ms=value)
        elif name == "worker-kind":
            self._update(worker_kind=WORKER_KIND.nick(value))
        elif name in RUN_SETTINGS:
            self._update(**{RUN_SETTINGS[name]: value})
        else:
            raise AttributeError(f"unknown property {name}")

    def _update(self, **changes: Any) -> None:
        # Two application threads setting properties at once must not lose either change.
        with self._settings_lock:
            self._settings = dataclasses.replace(self._settings, **changes)

    def _refuse(self, text: str) -> None:
        if self._state is None:
            # Maybe no bus yet (gst-launch and parse_launch set properties first): said at start.
            CAT.warning(self, text)
            self._refused_before_start.append(text)
            return
        report_warning(self, CAT, text, domain="settings")

    def _set_options(self, text: str | None) -> None:
        try:
            options = parse_json_object(text, "options")
        except PropertyValueError as error:
            if self._state is None:
                # Reported as an error when the element starts.
                self._update(options_text=text, options={})
                return
            self._refuse(f"{error}; keeping the previous options")
            return
        self._update(options_text=text, options=options)

    def _add_events(self, text: str | None) -> None:
        try:
            events = parse_json_object(text, "events")
        except PropertyValueError as error:
            self._refuse(f"{error}; the value is ignored")
            return
        with self._events_lock:
            self._pending_events.update(events)

    def _take_events(self) -> dict[str, Any]:
        if not self._pending_events:
            return {}
        with self._events_lock:
            events, self._pending_events = self._pending_events, {}
        return events

    # Start and stop

    def do_start(self) -> bool:
        settings = self._settings
        refused, self._refused_before_start = self._refused_before_start, []
        for text in refused:
            post_warning(self, f"{text} (set before the element started)", domain="settings")
        try:
            # Parsed again only to report an invalid value set while stopped.
            options = parse_json_object(settings.options_text, "options")
            # Resolved once: a reload after the application changed folder loads the same file.
            path = os.path.abspath(settings.custom_lib) if settings.custom_lib else None
            if settings.parallel and settings.worker_kind == "process":
                resolved = dataclasses.replace(settings, custom_lib=path)
                return self._start_processes(resolved, options)
            library = load_library(path, settings.in_place, settings.batch_size > 1)
        except (PropertyValueError, LibraryError) as error:
            report_error(self, CAT, str(error), getattr(error, "debug", ""), domain="settings")
            return False
        watcher = FileWatcher(library.path)
        starter = BackgroundStart(library, options, self._start_failed_late)
        started = starter.wait(START_WAIT_S)
        if started:
            if starter.error is not None:
                report_error(self, CAT, str(starter.error), starter.error.debug, domain="init")
                return False
        else:
            CAT.info(
                self,
                f"start() of custom-lib '{library.path}' still runs after {START_WAIT_S} s; "
                "the first buffer waits for it, a state change to NULL does not",
            )
        self.set_in_place(settings.in_place)
        self._reload_requested = False
        self._state = State(library=library, starter=starter, watcher=watcher, started=started)
        self._state.watch = CallWatch(self._call_slow)
        if settings.parallel:
            batch = settings.batch_size > 1
            workers = [ThreadWorker(batch) for _ in range(settings.workers)]
            self._parallel = Parallel(self, settings, workers, CAT)
        self._log_started(settings)
        return True

    def _start_processes(self, settings: Settings, options: dict[str, Any]) -> bool:
        """worker-kind=process: the library is loaded and started in each worker process."""
        workers = start_processes(self, settings, options, CAT)
        if workers is None:
            return False
        self.set_in_place(settings.in_place)
        self._reload_requested = False
        watcher = FileWatcher(settings.custom_lib)
        self._state = State(library=None, starter=None, watcher=watcher, started=True)
        self._parallel = Parallel(self, settings, workers, CAT)
        self._log_started(settings)
        return True

    def _log_started(self, settings: Settings) -> None:
        CAT.info(
            self,
            f"started custom-lib '{settings.custom_lib}', in-place={settings.in_place}, "
            f"workers={settings.workers} ({settings.worker_kind}), "
            f"batch-size={settings.batch_size}, "
            f"vfuncs in {'C' if NATIVE_VFUNCS else 'PyGObject'}",
        )
        if analytics.unavailable():
            CAT.info(self, analytics.unavailable())

    def do_stop(self) -> bool:
        parallel, self._parallel = self._parallel, None
        if parallel is not None:
            for failure in parallel.close():  # worker processes ran stop()
                report_warning(self, CAT, str(failure), failure.debug)
        state, self._state = self._state, None
        if state is None:
            return True
        self._last_meta_after_stop = state.last_meta
        if state.starter is None:
            return True
        if state.starter.abandon():
            CAT.warning(
                self,
                f"stopped while start() of custom-lib '{state.library.path}' still runs; "
                "its stop() follows when start() returns",
            )
        elif state.starter.error is None:
            self._stop_library(state.library, self._settings.options, state.watch)
        if state.watch is not None:
            state.watch.close()
        return True

    def _stop_library(
        self, library: CustomLibrary, options: dict[str, Any], watch: CallWatch | None
    ) -> None:
        if watch is not None:
            watch.begin("stop", self._settings.slow_call_ms / 1000, (library.path, None))
        try:
            failure = stop_library(library, options)
        finally:
            elapsed = None if watch is None else watch.end()
            if elapsed is not None:
                self._slow_call_returned(elapsed, "stop", library.path)
        if failure is not None:
            report_warning(self, CAT, str(failure), failure.debug)

    def _call_slow(self, call: SlowCall) -> None:
        """From the watching thread: a library call has run past slow-call-warning."""
        path, frame_num = call.detail
        where = "" if frame_num is None else f" on frame {frame_num}"
        text = (
            f"{call.function}() of custom-lib '{path}' has been running for "
            f"{call.elapsed_s:.1f} s{where} and has not returned (slow-call-warning="
            f"{self._settings.slow_call_ms} ms); the stream waits for it, and so does a state "
            "change to NULL. The debug text shows where it is."
        )
        report_warning(self, CAT, text, "Python stack of the call, innermost last:\n" + call.stack)

    def _slow_call_returned(self, elapsed: float, function: str, path: str) -> None:
        """A call reported as slow has returned after `elapsed` seconds (CallWatch.end())."""
        CAT.info(self, f"{function}() of custom-lib '{path}' returned after {elapsed:.1f} s")

    def _start_failed_late(self, error: LibraryError, element_stopped: bool) -> None:
        """start() failed after the start vfunc returned (or stop() after an abandoned start)."""
        if element_stopped:
            CAT.warning(self, f"{error} (after the element stopped)")
        else:
            report_error(self, CAT, str(error), error.debug, domain="init")

    def _await_start(self, state: State) -> Gst.FlowReturn:
        """The first buffer waits for a start() still running in the background."""
        CAT.info(self, f"waiting for start() of custom-lib '{state.library.path}'")
        sinkpad = self.get_static_pad("sink")
        if not state.starter.wait_unless(lambda: bool(sinkpad.flags & Gst.PadFlags.FLUSHING)):
            return FLOW_FLUSHING
        if state.starter.error is not None:
            return FLOW_ERROR  # already posted by _start_failed_late
        state.started = True
        return FLOW_OK

    # Hot reload

    def do_reload(self) -> None:
        """The reload action signal: load the library file again at the next processed buffer."""
        CAT.info(self, "reload requested")
        self._reload_requested = True

    def _reload(self, state: State, settings: Settings) -> None:
        self._reload_requested = False
        path = state.library.path
        try:
            new = load_new_version(
                state.library, settings.in_place, settings.options, settings.batch_size > 1
            )
        except LibraryError as error:
            text = f"reloading custom-lib '{path}' failed, the running version stays: {error}"
            report_warning(self, CAT, text, error.debug)
            return
        old, state.library = state.library, new
        state.warned_maps = state.warned_views = False
        self._stop_library(old, settings.options, state.watch)
        CAT.info(self, f"reloaded custom-lib '{path}' at frame {state.frame_num - 1}")

    # Caps and metas

    def do_set_caps(self, incaps: Gst.Caps, outcaps: Gst.Caps) -> bool:
        try:
            layout = FrameLayout.from_caps(incaps)
        except ValueError as error:
            post_error(self, str(error), domain="format")
            return False
        self._in_meta_template = in_meta_template(layout)
        self._layout = layout
        if self._parallel is not None:
            self._parallel.set_caps(incaps)
        CAT.info(self, f"caps set: {incaps.to_string()}")
        return True

    def do_sink_event(self, event: Gst.Event) -> bool:
        parallel = self._parallel
        if parallel is not None:
            parallel.sink_event(event)  # frames ahead of a serialized event leave first
        return GstBase.BaseTransform.do_sink_event(self, event)

    def do_transform_meta(self, outbuf: Gst.Buffer, meta: Gst.Meta, inbuf: Gst.Buffer) -> bool:
        # Input and output caps are the same, so every meta (ROI metas included) stays valid.
        return True

    def do_transform_size(
        self, direction: Gst.PadDirection, caps: Gst.Caps, size: int, othercaps: Gst.Caps
    ) -> tuple[bool, int]:
        # An input laid out by a video meta may be smaller or larger than the caps' frame.
        return True, self._layout.size if self._layout is not None else size

    def do_decide_allocation(self, query: Gst.Query) -> bool:
        # Not in place (the only case this is called in), when downstream offers no pool,
        # GstBaseTransform allocates every output frame anew: fresh pages to fault in at
        # each frame, 60 us at 1080p. An entry without a pool makes it pool its own buffers.
        if query.get_n_allocation_pools() == 0 and self._layout is not None:
            query.add_allocation_pool(None, self._layout.size, 0, 0)
        return GstBase.BaseTransform.do_decide_allocation(self, query)

    # Streaming

    def _begin_buffer(self) -> State | Gst.FlowReturn:
        """The state a buffer is processed with, or the flow to return instead (for workers;
        do_transform_ip has it inline)."""
        state = self._state
        if state is None or self._layout is None:
            post_error(self, "received a buffer before the element started", domain="stream")
            return FLOW_ERROR
        if not state.started:
            flow = self._await_start(state)
            if flow != FLOW_OK:
                return flow
        return state

    def do_transform_ip(
        self, inbuf: Gst.Buffer, outbuf: Gst.Buffer | None = None
    ) -> Gst.FlowReturn:
        """The transform_ip vfunc and, given `outbuf`, the work of transform (do_transform):
        the whole buffer in one function, as each Python call costs about 0.2 us."""
        if outbuf is None and CAT.enabled(DEBUG):
            CAT.debug(self, "transform_ip")
        _native.keep_thread_state()  # later buffers skip creating a Python thread state
        # _begin_buffer() inlined: its call would add ~0.3 us to the ~2 us of a skipped buffer.
        state = self._state
        if state is None or self._layout is None:
            post_error(self, "received a buffer before the element started", domain="stream")
            return FLOW_ERROR
        if not state.started:
            flow = self._await_start(state)
            if flow != FLOW_OK:
                return flow
        settings = self._settings  # one snapshot for the whole buffer
        frame_num = state.frame_num
        state.frame_num = frame_num + 1
        if frame_num % settings.process_interval:
            if outbuf is not None:
                copy_frame(inbuf, outbuf, self._layout)
            return FLOW_OK
        # Python's cyclic collector is paused while the buffer is processed. Its in_meta,
        # objects and parsed out_meta are thousands of containers that die with it (by
        # reference counting); collected while alive, they move to older generations, and each
        # move brings a full collection of every object of the process nearer: at 1000 objects
        # or 100 kB of out_meta, more time than the buffer's own work. Paused, the collector
        # counts them in and, as they die, out again; garbage a library makes is collected
        # after the buffer instead of during it.
        collecting = _native.pause_gc()
        try:
            if self._reload_requested or (
                settings.reload == "on-change" and state.watcher.changed()
            ):
                self._reload(state, settings)
            if CAT.enabled(LOG):
                CAT.log(LOG, self, "Processing buffer")
            events = self._take_events() if self._pending_events else {}
            # Not in place, the output buffer holds the copies of the ROI metas that go downstream.
            downstream = inbuf if outbuf is None else outbuf
            label_ids = settings.label_ids
            # `carried`: some object has a result written upstream to merge into.
            in_meta, objects, rois, carried = read_frame(
                inbuf, downstream, frame_num, self._layout, self._in_meta_template, label_ids
            )
            function_name = IN_PLACE_FUNCTION if outbuf is None else FUNCTION
            library = state.library
            open_maps = state.open_maps
            if open_maps.buffer is not None:  # busy: a library pushing a buffer through us
                open_maps = OpenMaps()
            open_maps.lend(inbuf)
            open_one_frame(in_meta, downstream, rois, label_ids)  # for add_object()
            watch = state.watch
            watch.begin(function_name, settings.slow_call_ms / 1000, (library.path, frame_num))
            try:
                if outbuf is None:
                    out_meta = library.process_ip(inbuf, in_meta, settings.options, events)
                else:
                    out_meta = self._call_process(library, inbuf, outbuf, in_meta, settings, events)
                    if out_meta is FLOW_DROPPED:
                        self._warn_dropped(state)
                        return FLOW_DROPPED
                kind = type(out_meta)
                if out_meta is None or (kind is str and not out_meta):
                    results = []  # nothing returned changes nothing (parse_out_meta's first case)
                elif kind is dict:  # parse_out_meta() returns a list or a dict as it is
                    results = out_meta
                    merge_results(in_meta, results, carried)
                else:
                    results = out_meta if kind is list else parse_out_meta(
                        out_meta, function_name, in_meta
                    )
                    if type(results) is not list or results:
                        merge_results(in_meta, results, carried)
                if events:
                    add_events(in_meta, events)
                text = meta_json(in_meta, function_name)
            # Any exception, BaseException too (KeyboardInterrupt, GeneratorExit, SystemExit, a
            # library's own): escaping the vfunc, it would count as GST_FLOW_OK.
            except BaseException as error:
                return self._library_failed(settings, library, function_name, error, inbuf, outbuf)
            finally:
                elapsed = watch.end()
                if elapsed is not None:
                    self._slow_call_returned(elapsed, function_name, library.path)
                close_one_frame(in_meta)
                left_open = open_maps.release()
                if left_open:
                    warning = forgotten_maps_text(function_name, state.library.path, left_open)
                    self._warn_once(state, "warned_maps", warning)
                if open_maps.frames and open_maps.settle_frames():
                    self._warn_once(
                        state, "warned_views", kept_views_text(function_name, state.library.path)
                    )

            if len(text) < LARGE_TEXT:  # keep_text() inlined for the texts it keeps as they are
                state.last_meta = text
            else:  # what follows writes the kept bytearray's copy: orjson's bytes are freed here
                text = state.last_meta = keep_text(state.last_meta, text)
            _native.write_meta_json(hash(downstream), text)  # custom_meta.write_meta_json()
            if rois:
                if carried:
                    write_results(rois, results_to_write(objects))
                elif type(results) is list:
                    write_results(rois, results)
            if ANALYTICS:
                analytics.write_results(downstream, objects, results)
            if not settings.silent:  # _emit_new_meta() inlined: a method call is ~0.2 us
                failures = emit_text_reporting_errors(self._address, NEW_META_SIGNAL, text)
                if failures:
                    self._handler_failed(state, failures)
            return FLOW_OK
        finally:
            if collecting:
                gc.enable()

    def do_transform(self, inbuf: Gst.Buffer, outbuf: Gst.Buffer) -> Gst.FlowReturn:
        if CAT.enabled(DEBUG):
            CAT.debug(self, "transform")
        # EmPyCustom's own: a subclass may override do_transform_ip with the vfunc's signature.
        return EmPyCustom.do_transform_ip(self, inbuf, outbuf)

    def _emit_new_meta(
        self, state: State | None, settings: Settings, text: bytes | bytearray | str
    ) -> None:
        if not settings.silent:
            failures = emit_text_reporting_errors(self._address, NEW_META_SIGNAL, text)
            if failures and state is not None:
                self._handler_failed(state, failures)

    def _warn_once(self, state: State, flag: str, text: str) -> None:
        """A warning posted once per library version (the `flag` of `state`), then logged."""
        if getattr(state, flag):
            CAT.log(LOG, self, text)
            return
        setattr(state, flag, True)
        report_warning(self, CAT, text)

    def _warn_dropped(self, state: State | None) -> None:
        """Once per start: frames go missing because process() returns None as out_buffer
        (the reference's template does, and in-place=false is the default)."""
        if state is None or state.warned_dropped:
            return
        state.warned_dropped = True
        report_warning(
            self, CAT,
            f"process() of custom-lib '{state.library.path}' returned no buffer (None as "
            "out_buffer): frames are being dropped. Return in_buffer to pass the frame on, "
            "or use in-place=true with process_ip() (reported once; each dropped frame is "
            "logged at LOG level)",
        )  # fmt: skip

    def _handler_failed(self, state: State, tracebacks: list[str]) -> None:
        text = "a handler of the new-meta signal raised an exception; the stream goes on"
        for debug in tracebacks:
            CAT.warning(self, f"{text}:\n{debug}")
        if not state.warned_handler:
            state.warned_handler = True
            post_warning(
                self, text + " (reported once; every time in the debug log)", tracebacks[0]
            )

    def _call_process(
        self,
        library: CustomLibrary,
        inbuf: Gst.Buffer,
        outbuf: Gst.Buffer,
        in_meta: dict[str, Any],
        settings: Settings,
        events: dict[str, Any],
    ) -> Any:
        """Call process() and write its output frame; returns out_meta, or FLOW_DROPPED."""
        returned = library.process(inbuf, in_meta, settings.options, events)
        if not isinstance(returned, tuple) or len(returned) != 2:
            raise OutMetaError(
                f"process() returned {type(returned).__name__}; expected a tuple "
                "(out_buffer, out_meta)"
            )
        out_buffer, out_meta = returned
        if out_buffer is None:
            CAT.log(LOG, self, "process() returned no buffer: frame dropped")
            return FLOW_DROPPED
        write_output(out_buffer, outbuf, self._layout)
        return out_meta

    def _library_failed(
        self,
        settings: Settings,
        library: CustomLibrary,
        function_name: str,
        error: BaseException,
        inbuf: Gst.Buffer,
        outbuf: Gst.Buffer | None,
    ) -> Gst.FlowReturn:
        if isinstance(error, (OutMetaError, OutputFrameError)):
            text = f"custom-lib '{library.path}': {error}"
        else:
            text = (
                f"{function_name}() of custom-lib '{library.path}' raised "
                f"{type(error).__name__}: {error}"
            )
        debug = traceback.format_exc()
        if settings.on_error == "error":
            report_error(self, CAT, text, debug)
            return FLOW_ERROR
        if settings.on_error == "drop":
            report_warning(self, CAT, text + "; frame dropped (on-error=drop)", debug)
            return FLOW_DROPPED
        report_warning(self, CAT, text + "; frame passed unchanged (on-error=warn)", debug)
        if outbuf is not None:
            copy_frame(inbuf, outbuf, self._layout)
        return FLOW_OK


NEW_META_SIGNAL = add_text_signal(EmPyCustom, "new-meta")


def _install_native_transforms() -> bool:
    """transform_ip and transform in C (_native.install_transforms: PyGObject's closures cost
    about 4,300 instructions per buffer); EMPYCUSTOM_NATIVE_VFUNCS=0 keeps PyGObject's."""
    if os.environ.get("EMPYCUSTOM_NATIVE_VFUNCS") == "0":
        return False
    sample = Gst.Buffer.new()
    return _native.install_transforms(
        hash(EmPyCustom.__gtype__),  # hash() of a GType: its value
        EmPyCustom.do_transform_ip,
        EmPyCustom.do_transform,
        sample,
        hash(sample),
        LentBuffer,  # the buffer lent to the library's call (OpenMaps)
    )


NATIVE_VFUNCS = _install_native_transforms()
# Properties read when the element starts (refused while running): name -> Settings field.
RUN_SETTINGS = {
    "workers": "workers",
    "worker-kind": "worker_kind",
    "worker-timeout": "worker_timeout_ms",
    "batch-size": "batch_size",
    "batch-timeout": "batch_timeout_ms",
}

"""The `empycustom` element: calls a custom Python library on video buffers.

GStreamer glue only. The rules it applies live in plain modules: `options` (property values),
`library` (the custom-library contract), `inmeta`, `outmeta` and `merge` (metadata).
"""

from __future__ import annotations

import dataclasses
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from empycustom import custom_meta
from empycustom._gst import GObject, Gst, GstBase
from empycustom.debug import DebugCategory
from empycustom.frames import FORMATS, copy_frame, write_output
from empycustom.inmeta import build_in_meta
from empycustom.layout import FrameLayout
from empycustom.library import CustomLibrary, LibraryError, load_library, required_function
from empycustom.merge import add_events, merge_results
from empycustom.messages import post_error, post_warning
from empycustom.objects import analytics_unavailable, parse_labels, read_objects, write_results
from empycustom.options import PropertyValueError, parse_json_object
from empycustom.outmeta import OutMetaError, parse_out_meta, to_json

CAT = DebugCategory("empycustom", "Custom Python processing of video buffers")

SUPPORTED_FORMATS = FORMATS
CAPS = Gst.Caps.from_string(
    f"video/x-raw, format=(string){{ {', '.join(SUPPORTED_FORMATS)} }}, "
    "width=(int)[ 1, 2147483647 ], height=(int)[ 1, 2147483647 ], "
    "framerate=(fraction)[ 0/1, 2147483647/1 ]"
)

ON_ERROR_POLICIES = ("error", "warn", "drop")
FLOW_DROPPED = Gst.FlowReturn.CUSTOM_SUCCESS  # GST_BASE_TRANSFORM_FLOW_DROPPED
G_MAXINT = 2147483647
RW = GObject.ParamFlags.READWRITE


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
    labels_text: str | None = None
    label_ids: dict[str, int] = field(default_factory=dict)


@dataclass
class State:
    """What exists only between start and stop."""

    library: CustomLibrary
    options: dict[str, Any]
    frame_num: int = 0
    last_meta: str | None = None


class EmPyCustom(GstBase.BaseTransform):
    __gtype_name__ = "GstEmPyCustom"
    __gstmetadata__ = (
        "EmPyCustom",
        "Filter/Video",
        "Runs a custom Python library on video buffers and merges the JSON it returns into "
        "the frame's metadata",
        "empycustom developers",
    )
    __gsttemplates__ = (
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, CAPS),
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, CAPS),
    )
    __gproperties__ = {
        "custom-lib": (
            str,
            "Custom library",
            "Path of the Python file that defines process_ip() (in-place=true) or process() "
            "(in-place=false), and optionally start() and stop(). Read when the element starts.",
            None,
            RW,
        ),
        "options": (
            str,
            "Options",
            "JSON object (or Python dict literal) passed as the options dict to every function "
            "of the custom library. May change while playing.",
            None,
            RW,
        ),
        "events": (
            str,
            "Events",
            "JSON object delivered once, to the next processed buffer, and added to that frame's "
            'meta under "events". Values set before delivery are merged, later keys winning.',
            None,
            RW,
        ),
        "in-place": (
            bool,
            "In place",
            "Process buffers in place with process_ip(), or write a new output buffer with "
            "process(). Cannot change while running.",
            False,
            RW,
        ),
        "process-interval": (
            int,
            "Process interval",
            "Process the 1st, (N+1)th, (2N+1)th ... buffer; the others pass untouched.",
            1,
            G_MAXINT,
            1,
            RW,
        ),
        "silent": (
            bool,
            "Silent",
            "Do not emit the new-meta signal.",
            False,
            RW,
        ),
        "last-meta": (
            str,
            "Last meta",
            "Merged JSON meta of the last processed buffer.",
            None,
            GObject.ParamFlags.READABLE,
        ),
        "on-error": (
            str,
            "On error",
            'What an exception in the custom library or unparsable out_meta does: "error" '
            'posts an error and stops the stream, "warn" posts a warning and passes the frame '
            'unchanged, "drop" posts a warning and drops the frame.',
            "error",
            RW,
        ),
        "labels": (
            str,
            "Labels",
            "Comma-separated class labels, the index of each being its class id, like a "
            "detector's labels file. An object whose ROI type is one of them gets that class_id "
            'unless a "detection" param of its ROI gives a label_id.',
            None,
            RW,
        ),
    }
    __gsignals__ = {
        "new-meta": (GObject.SignalFlags.RUN_LAST, None, (str,)),
    }

    def __init__(self) -> None:
        super().__init__()
        self._settings = Settings()
        self._state: State | None = None
        self._layout: FrameLayout | None = None
        self._pending_events: dict[str, Any] = {}
        self._events_lock = threading.Lock()
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
            return state.last_meta if state is not None else self._last_meta_after_stop
        if name == "on-error":
            return settings.on_error
        if name == "labels":
            return settings.labels_text
        raise AttributeError(f"unknown property {name}")

    _last_meta_after_stop: str | None = None

    def do_set_property(self, prop: GObject.ParamSpec, value: Any) -> None:
        name = prop.name
        if name in ("custom-lib", "in-place") and self._state is not None:
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
            if value not in ON_ERROR_POLICIES:
                self._refuse(
                    f"property 'on-error' must be one of {', '.join(ON_ERROR_POLICIES)}; "
                    f"got {value!r}, keeping {self._settings.on_error!r}"
                )
                return
            self._update(on_error=value)
        elif name == "labels":
            self._update(labels_text=value, label_ids=parse_labels(value))
        else:
            raise AttributeError(f"unknown property {name}")

    def _update(self, **changes: Any) -> None:
        self._settings = dataclasses.replace(self._settings, **changes)

    def _refuse(self, text: str) -> None:
        CAT.warning(self, text)
        post_warning(self, text, domain="settings")

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
        try:
            options = parse_json_object(settings.options_text, "options")
            library = load_library(settings.custom_lib, settings.in_place)
        except (PropertyValueError, LibraryError) as error:
            CAT.error(self, str(error))
            post_error(self, str(error), getattr(error, "debug", ""), domain="settings")
            return False
        if library.start is not None:
            try:
                library.start(options)
            except BaseException as error:
                library.unload()
                text = (
                    f"start() of custom-lib '{library.path}' raised {type(error).__name__}: {error}"
                )
                CAT.error(self, text)
                post_error(self, text, traceback.format_exc(), domain="init")
                return False
        self._update(options=options)
        self.set_in_place(settings.in_place)
        self._state = State(library=library, options=options)
        CAT.info(self, f"started custom-lib '{library.path}', in-place={settings.in_place}")
        if analytics_unavailable():
            CAT.info(self, analytics_unavailable())
        return True

    def do_stop(self) -> bool:
        state, self._state = self._state, None
        if state is None:
            return True
        self._last_meta_after_stop = state.last_meta
        library = state.library
        try:
            if library.stop is not None:
                library.stop(self._settings.options)
        except BaseException as error:
            text = f"stop() of custom-lib '{library.path}' raised {type(error).__name__}: {error}"
            CAT.warning(self, text)
            post_warning(self, text, traceback.format_exc())
        finally:
            library.unload()
        return True

    # Caps and metas

    def do_set_caps(self, incaps: Gst.Caps, outcaps: Gst.Caps) -> bool:
        try:
            self._layout = FrameLayout.from_caps(incaps)
        except ValueError as error:
            post_error(self, str(error), domain="format")
            return False
        CAT.info(self, f"caps set: {incaps.to_string()}")
        return True

    def do_transform_meta(self, outbuf: Gst.Buffer, meta: Gst.Meta, inbuf: Gst.Buffer) -> bool:
        # Input and output caps are the same, so every meta (ROI metas included) stays valid.
        return True

    def do_transform_size(
        self, direction: Gst.PadDirection, caps: Gst.Caps, size: int, othercaps: Gst.Caps
    ) -> tuple[bool, int]:
        # An input laid out by a video meta may be smaller or larger than the caps' frame.
        return True, self._layout.size if self._layout is not None else size

    # Streaming

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        CAT.debug(self, "transform_ip")
        return self._process_buffer(buffer, None)

    def do_transform(self, inbuf: Gst.Buffer, outbuf: Gst.Buffer) -> Gst.FlowReturn:
        CAT.debug(self, "transform")
        return self._process_buffer(inbuf, outbuf)

    def _process_buffer(self, inbuf: Gst.Buffer, outbuf: Gst.Buffer | None) -> Gst.FlowReturn:
        state = self._state
        if state is None or self._layout is None:
            post_error(self, "received a buffer before the element started", domain="stream")
            return Gst.FlowReturn.ERROR
        settings = self._settings
        frame_num = state.frame_num
        state.frame_num = frame_num + 1
        if frame_num % settings.process_interval:
            if outbuf is not None:
                copy_frame(inbuf, outbuf, self._layout)
            return Gst.FlowReturn.OK

        CAT.log(Gst.DebugLevel.LOG, self, "Processing buffer")
        events = self._take_events()
        # Not in place, the output buffer holds the copies of the ROI metas that go downstream.
        objects, rois = read_objects(inbuf if outbuf is None else outbuf, settings.label_ids)
        in_meta = build_in_meta(frame_num, inbuf.pts, self._layout.for_buffer(inbuf), objects)
        function_name = required_function(outbuf is None)
        try:
            if outbuf is None:
                out_meta = state.library.process_ip(inbuf, in_meta, settings.options, events)
            else:
                out_meta = self._call_process(
                    state.library, inbuf, outbuf, in_meta, settings, events
                )
                if out_meta is FLOW_DROPPED:
                    return FLOW_DROPPED
            results = parse_out_meta(out_meta, function_name)
        except Exception as error:
            return self._library_failed(
                settings, state.library, function_name, error, inbuf, outbuf
            )

        merge_results(in_meta, results)
        add_events(in_meta, events)
        text = to_json(in_meta)
        state.last_meta = text
        custom_meta.write_meta_json(inbuf if outbuf is None else outbuf, text)
        write_results(rois, results)
        if not settings.silent:
            self.emit("new-meta", text)
        return Gst.FlowReturn.OK

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
            CAT.log(Gst.DebugLevel.LOG, self, "process() returned no buffer: frame dropped")
            return FLOW_DROPPED
        write_output(out_buffer, outbuf, self._layout)
        return out_meta

    def _library_failed(
        self,
        settings: Settings,
        library: CustomLibrary,
        function_name: str,
        error: Exception,
        inbuf: Gst.Buffer,
        outbuf: Gst.Buffer | None,
    ) -> Gst.FlowReturn:
        if isinstance(error, OutMetaError):
            text = f"custom-lib '{library.path}': {error}"
        else:
            text = (
                f"{function_name}() of custom-lib '{library.path}' raised "
                f"{type(error).__name__}: {error}"
            )
        debug = traceback.format_exc()
        if settings.on_error == "error":
            CAT.error(self, text)
            post_error(self, text, debug)
            return Gst.FlowReturn.ERROR
        if settings.on_error == "drop":
            CAT.warning(self, text + "; frame dropped (on-error=drop)")
            post_warning(self, text + "; frame dropped (on-error=drop)", debug)
            return FLOW_DROPPED
        CAT.warning(self, text + "; frame passed unchanged (on-error=warn)")
        post_warning(self, text + "; frame passed unchanged (on-error=warn)", debug)
        if outbuf is not None:
            copy_frame(inbuf, outbuf, self._layout)
        return Gst.FlowReturn.OK

"""The `aimeta` element: reads the merged meta of upstream empycustom elements.

A passthrough element like the one in the reference pipeline (`... ! empycustom ... ! aimeta
silent=false ! fakesink`): it emits `new-meta`, keeps `last-meta`, and can append one JSON line
per frame to a file or stdout. Frames without empycustom meta pass without a trace.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from empycustom._native import keep_thread_state
from empycustom.gst.debug import DebugCategory
from empycustom.gst.messages import post_error, report_error
from empycustom.gst.params import RW_PLAYING, RW_READY
from empycustom.gst.runtime import GObject, Gst, GstBase, filter_pad_templates
from empycustom.gst.signals import add_text_signal
from empycustom.meta.custom_meta import read_meta_json
from empycustom.publish.file import JsonLinesFile

CAT = DebugCategory("aimeta", "Reads the merged meta of empycustom elements")


@dataclass(frozen=True)
class Settings:
    """Property values. Replaced as a whole on every change, so one read is one snapshot."""

    silent: bool = True
    location: str | None = None


@dataclass
class State:
    """What exists only between start and stop."""

    output: JsonLinesFile | None = None
    last_meta: str | None = None


class AiMeta(GstBase.BaseTransform):
    __gtype_name__ = "GstAiMeta"
    __gstmetadata__ = (
        "AiMeta",
        "Filter/Metadata",
        "Passes buffers through and hands the merged JSON meta of upstream empycustom elements "
        "to applications: signal new-meta(meta_json), property last-meta and a JSON-lines "
        "file",
        "empycustom developers",
    )
    __gsttemplates__ = filter_pad_templates(Gst.Caps.new_any())
    __gproperties__ = {
        "silent": (
            bool,
            "Silent",
            "Do not emit the new-meta signal. Set it to false to receive the meta of every "
            "frame in a new-meta handler.",
            True,
            RW_PLAYING,
        ),
        "location": (
            str,
            "Location",
            'File to which the merged meta of every frame is appended as one JSON line; "-" '
            "writes to standard output. Read when the element starts.",
            None,
            RW_READY,
        ),
        "last-meta": (
            str,
            "Last meta",
            "Merged JSON meta of the last frame that carried one.",
            None,
            GObject.ParamFlags.READABLE,
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self._settings = Settings()
        self._state: State | None = None
        self._last_meta_after_stop: str | None = None
        self.set_passthrough(True)

    def do_get_property(self, prop: GObject.ParamSpec) -> Any:
        name = prop.name
        if name == "silent":
            return self._settings.silent
        if name == "location":
            return self._settings.location
        if name == "last-meta":
            state = self._state
            return state.last_meta if state is not None else self._last_meta_after_stop
        raise AttributeError(f"unknown property {name}")

    def do_set_property(self, prop: GObject.ParamSpec, value: Any) -> None:
        name = prop.name
        if name == "silent":
            self._settings = dataclasses.replace(self._settings, silent=value)
        elif name == "location":
            self._settings = dataclasses.replace(self._settings, location=value or None)
        else:
            raise AttributeError(f"unknown property {name}")

    def do_start(self) -> bool:
        location = self._settings.location
        output = None
        if location is not None:
            try:
                output = JsonLinesFile(location)  # closed in do_stop
            except OSError as error:
                text = f"cannot open location '{location}' for appending: {error.strerror}"
                report_error(self, CAT, text, str(error), domain="resource")
                return False
        self._state = State(output=output)
        return True

    def do_stop(self) -> bool:
        state, self._state = self._state, None
        if state is None:
            return True
        self._last_meta_after_stop = state.last_meta
        if state.output is not None:
            state.output.close()
        return True

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        keep_thread_state()  # later buffers skip creating a Python thread state
        state = self._state
        if state is None:
            post_error(self, "received a buffer before the element started", domain="stream")
            return Gst.FlowReturn.ERROR
        text = read_meta_json(buffer)
        if text is None:
            return Gst.FlowReturn.OK
        state.last_meta = text
        CAT.debug(self, text)
        if state.output is not None:
            try:
                state.output.write_line(text)
            except OSError as error:
                location = self._settings.location
                text = f"cannot write to location '{location}': {error.strerror}"
                report_error(self, CAT, text, str(error), domain="resource")
                return Gst.FlowReturn.ERROR
        if not self._settings.silent:
            self.emit("new-meta", text)
        return Gst.FlowReturn.OK


add_text_signal(AiMeta, "new-meta")

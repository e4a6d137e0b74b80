"""The `metapublish` element: publishes each frame's merged meta to a broker (MQTT, Redis
Streams) or a file, off the streaming thread, keeping what the broker has not acknowledged
in an on-disk outbox. The work is in `empycustom.publish`; this is the GStreamer glue.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from empycustom import _native
from empycustom._native import keep_thread_state
from empycustom.gst.debug import DebugCategory
from empycustom.gst.messages import post_error, report_error, report_warning
from empycustom.gst.params import RW_PLAYING, RW_READY
from empycustom.gst.runtime import GObject, Gst, GstBase, filter_pad_templates
from empycustom.meta.custom_meta import read_meta_json
from empycustom.publish.backends import Credentials, create_backend
from empycustom.publish.message import encode_message, json_string
from empycustom.publish.outbox import Outbox
from empycustom.publish.publisher import Publisher
from empycustom.publish.template import DestinationTemplate, TemplateError
from empycustom.publish.uri import BrokerURIError, parse_broker_uri

CAT = DebugCategory("metapublish", "Publishes the merged meta of empycustom elements")

FLOW_OK = Gst.FlowReturn.OK
PTS_NONE = Gst.CLOCK_TIME_NONE
G_MAXUINT = 2**32 - 1
G_MAXUINT64 = 2**64 - 1
DEFAULT_OUTBOX_LIMIT = 100 * 1024 * 1024
R = GObject.ParamFlags.READABLE


@dataclass(frozen=True)
class Settings:
    """Property values; replaced as a whole on every change, so one read is one snapshot."""

    broker: str | None = None
    source: str | None = None
    outbox: str | None = None
    outbox_limit: int = DEFAULT_OUTBOX_LIMIT
    skip_empty: bool = False
    publish_interval: int = 1
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    stop_timeout: float = 5.0
    reconnect_max: float = 10.0


@dataclass
class State:
    """What exists only between start and stop."""

    publisher: Publisher
    template: DestinationTemplate
    source_json: bytes
    run_json: bytes
    temporary_outbox: str | None
    frame_num: int = 0


SETTING_OF_PROPERTY = {
    "broker": "broker", "source": "source", "outbox": "outbox", "outbox-limit": "outbox_limit",
    "skip-empty": "skip_empty", "publish-interval": "publish_interval", "password": "password",
    "ca-file": "ca_file", "cert-file": "cert_file", "key-file": "key_file",
    "stop-timeout": "stop_timeout", "reconnect-max": "reconnect_max",
}  # fmt: skip
# Read when the element starts; a change while it runs applies at the next start.
STRING_PROPERTIES = {"broker", "source", "outbox", "password", "ca-file", "cert-file", "key-file"}


class MetaPublish(GstBase.BaseTransform):
    __gtype_name__ = "GstMetaPublish"
    __gstmetadata__ = (
        "MetaPublish",
        "Filter/Metadata",
        "Passes buffers through and publishes the merged JSON meta of upstream empycustom "
        "elements to MQTT, Redis Streams or a file, at least once, keeping what the broker has "
        "not acknowledged in an on-disk outbox",
        "empycustom developers",
    )
    __gsttemplates__ = filter_pad_templates(Gst.Caps.new_any())
    __gproperties__ = {
        "broker": (
            str, "Broker",
            "Where to publish, as a URI: mqtt://[user:password@]host[:port]/topic (QoS 1), "
            "mqtts://... (TLS, see ca-file), redis://[[user]:password@]host[:port]/stream "
            "(XADD to a Redis stream) or file:///path.jsonl (one JSON line per frame). The "
            "topic, stream or path may contain {source}, {frame_num}, {format}, {width} and "
            "{height}. Read when the element starts.",
            None, RW_READY,
        ),
        "source": (
            str, "Source",
            "Name of this source in every message and in {source}; the element's name when "
            "unset.",
            None, RW_READY,
        ),
        "outbox": (
            str, "Outbox",
            "Folder of the outbox: messages the broker has not acknowledged yet are kept "
            "there, and a later start with the same folder sends them first. Unset: a "
            "temporary folder, deleted at stop (what is left undelivered then is lost).",
            None, RW_READY,
        ),
        "outbox-limit": (
            GObject.TYPE_UINT64, "Outbox limit",
            "Largest size of the outbox in bytes. When it is full, a warning is posted and the "
            "oldest messages are dropped (counted in the dropped property).",
            4096, G_MAXUINT64, DEFAULT_OUTBOX_LIMIT, RW_READY,
        ),
        "skip-empty": (
            bool, "Skip empty",
            "Do not publish frames whose meta has no objects.",
            False, RW_PLAYING,
        ),
        "publish-interval": (
            int, "Publish interval",
            "Publish the 1st, (N+1)th, (2N+1)th ... frame only.",
            1, 2**31 - 1, 1, RW_PLAYING,
        ),
        "password": (
            str, "Password",
            "Password for the broker, instead of one in the broker URI (which a command "
            "line or a process list would show). Write-only; never logged.",
            None, GObject.ParamFlags.WRITABLE | Gst.PARAM_MUTABLE_READY,
        ),
        "ca-file": (
            str, "CA file",
            "mqtts: file of the certificate authorities that sign the broker's certificate "
            "(PEM); unset: the system's.",
            None, RW_READY,
        ),
        "cert-file": (
            str, "Certificate file",
            "mqtts: this client's certificate (PEM), for brokers that require one.",
            None, RW_READY,
        ),
        "key-file": (
            str, "Key file",
            "mqtts: the private key of cert-file (PEM), when cert-file does not contain it.",
            None, RW_READY,
        ),
        "stop-timeout": (
            float, "Stop timeout",
            "Seconds the element waits at stop for a connected broker to acknowledge what is "
            "still in the outbox; the rest stays there for the next start.",
            0.0, 3600.0, 5.0, RW_PLAYING,
        ),
        "reconnect-max": (
            float, "Reconnect max",
            "Longest wait in seconds between two connection attempts (the wait starts at "
            "0.1 s and doubles).",
            0.1, 3600.0, 10.0, RW_READY,
        ),
        "delivered": (
            GObject.TYPE_UINT64, "Delivered",
            "Messages the broker acknowledged since the element started.",
            0, G_MAXUINT64, 0, R,
        ),
        "dropped": (
            GObject.TYPE_UINT64, "Dropped",
            "Messages dropped since the element started because the outbox was full.",
            0, G_MAXUINT64, 0, R,
        ),
        "pending": (
            GObject.TYPE_UINT64, "Pending",
            "Messages not acknowledged yet, in memory and in the outbox.",
            0, G_MAXUINT64, 0, R,
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self._settings = Settings()
        self._state: State | None = None
        self._counts_after_stop = (0, 0, 0)
        self.set_passthrough(True)

    def do_get_property(self, prop: GObject.ParamSpec) -> Any:
        name = prop.name
        if name in ("delivered", "dropped", "pending"):
            state = self._state
            if state is None:
                return self._counts_after_stop[("delivered", "dropped", "pending").index(name)]
            publisher = state.publisher
            counters = publisher.counters
            return {"delivered": counters.delivered, "dropped": counters.dropped,
                    "pending": publisher.pending}[name]  # fmt: skip
        if name in SETTING_OF_PROPERTY and name != "password":
            return getattr(self._settings, SETTING_OF_PROPERTY[name])
        raise AttributeError(f"unknown property {name}")

    def do_set_property(self, prop: GObject.ParamSpec, value: Any) -> None:
        name = prop.name
        if name not in SETTING_OF_PROPERTY:
            raise AttributeError(f"unknown property {name}")
        if name in STRING_PROPERTIES:
            value = value or None
        self._settings = dataclasses.replace(self._settings, **{SETTING_OF_PROPERTY[name]: value})

    # -- start and stop -----------------------------------------------------------------------
    def do_start(self) -> bool:
        settings = self._settings
        if settings.broker is None:
            report_error(self, CAT, "no broker set: set the broker property", domain="settings")
            return False
        try:
            uri = parse_broker_uri(settings.broker)
            source = settings.source or self.get_name()
            template = DestinationTemplate(uri.destination, source)
        except (BrokerURIError, TemplateError) as error:
            report_error(self, CAT, f"unusable broker property: {error}", domain="settings")
            return False
        for property_name in ("ca-file", "cert-file", "key-file"):
            path = getattr(settings, SETTING_OF_PROPERTY[property_name])
            if path is not None and not os.path.isfile(path):
                text = f"the {property_name} property names no file: '{path}'"
                report_error(self, CAT, text, domain="settings")
                return False
        temporary = None
        folder = settings.outbox
        if folder is None:
            folder = temporary = tempfile.mkdtemp(prefix="empycustom-outbox-")
        try:
            outbox = Outbox(folder, settings.outbox_limit)
        except OSError as error:
            text = f"cannot use the outbox folder '{folder}' (property outbox): "
            text += error.strerror or str(error)
            report_error(self, CAT, text, str(error), domain="resource")
            return False
        if len(outbox):
            CAT.info(self, f"{len(outbox)} messages of an earlier run in the outbox, sent first")
        publisher = Publisher(
            create_backend(uri, self._credentials(settings)),
            outbox,
            self._report,
            broker=uri.redacted(),
            reconnect_max=settings.reconnect_max,
        )
        self._state = State(
            publisher=publisher,
            template=template,
            source_json=json_string(source),
            run_json=json_string(uuid.uuid4().hex),
            temporary_outbox=temporary,
        )
        publisher.start()
        CAT.info(self, f"publishing to {uri.redacted()} as source '{source}'")
        return True

    @staticmethod
    def _credentials(settings: Settings) -> Credentials:
        return Credentials(
            password=settings.password,
            ca_file=settings.ca_file,
            cert_file=settings.cert_file,
            key_file=settings.key_file,
        )

    def do_stop(self) -> bool:
        state, self._state = self._state, None
        if state is None:
            return True
        publisher = state.publisher
        left = publisher.stop(self._settings.stop_timeout)
        self._counts_after_stop = (publisher.counters.delivered, publisher.counters.dropped, left)
        if state.temporary_outbox is not None:
            shutil.rmtree(state.temporary_outbox, ignore_errors=True)
            if left:
                report_warning(
                    self, CAT,
                    f"{left} messages were not delivered and are lost: set the outbox property "
                    "to keep them for the next start",
                )  # fmt: skip
        elif left:
            CAT.info(self, f"{left} messages not delivered yet, kept in the outbox")
        return True

    def _report(self, level: str, text: str) -> None:
        """The publisher's threads report through this (errors and warnings on the bus)."""
        if level == "error":
            report_error(self, CAT, text, domain="resource")
        elif level == "warning":
            report_warning(self, CAT, text, domain="resource")
        else:
            CAT.info(self, text)

    # -- the streaming thread -----------------------------------------------------------------
    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        keep_thread_state()  # later buffers skip creating a Python thread state
        state = self._state
        if state is None:
            post_error(self, "received a buffer before the element started", domain="stream")
            return Gst.FlowReturn.ERROR
        frame_num = state.frame_num
        state.frame_num = frame_num + 1
        settings = self._settings
        if frame_num % settings.publish_interval:
            return FLOW_OK
        text = read_meta_json(buffer)
        if text is None:
            return FLOW_OK
        frame = None
        try:
            if "\n" in text:  # meta written by hand, pretty-printed: one message is one line
                text = orjson.dumps(orjson.loads(text)).decode()
            if settings.skip_empty or state.template.needs_frame:
                frames = orjson.loads(text).get("frame") or [{}]
                frame = frames[0]
                if settings.skip_empty and not any(f.get("object") for f in frames):
                    return FLOW_OK
        except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError) as error:
            CAT.warning(self, f"frame {frame_num} not published: its meta is not usable ({error})")
            return FLOW_OK
        pts = _native.buffer_pts(hash(buffer))
        payload = encode_message(
            state.source_json, state.run_json, frame_num, None if pts == PTS_NONE else pts, text
        )
        state.publisher.submit(state.template.format(frame_num, frame), payload)
        return FLOW_OK

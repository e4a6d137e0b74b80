"""Running real pipelines in tests: in-process with Gst.parse_launch, or with gst-launch-1.0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import empycustom
from empycustom.gst.messages import error_text
from empycustom.gst.runtime import Gst


@dataclass
class Frame:
    """What an appsink named "sink" received: the data, timestamps and merged meta."""

    data: bytes
    pts: int
    caps: str
    meta: dict[str, Any] | None
    buffer: Gst.Buffer | None = None


@dataclass
class PipelineResult:
    eos: bool
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    element_messages: list[Gst.Structure] = field(default_factory=list)
    pipeline: Gst.Pipeline | None = None

    @property
    def error_texts(self) -> str:
        return "\n".join(f"{text}\n{debug}" for text, debug in self.errors)

    @property
    def warning_texts(self) -> str:
        return "\n".join(f"{text}\n{debug}" for text, debug in self.warnings)


def run_pipeline(
    description: str,
    *,
    timeout: float = 30,
    configure: Callable[[Gst.Pipeline], None] | None = None,
    keep_buffers: bool = False,
    signal_element: str | None = "e",
    on_buffer: Callable[[Gst.Pipeline, int], None] | None = None,
) -> PipelineResult:
    """Run `description` to EOS or the first error and collect what came out.

    An appsink named "sink" has its buffers collected; an element named `signal_element`
    has its new-meta signals collected.
    """
    pipeline = Gst.parse_launch(description)
    result = PipelineResult(eos=False)
    if configure is not None:
        configure(pipeline)
    sink = pipeline.get_by_name("sink")
    if sink is not None:
        sink.set_property("emit-signals", True)
        sink.set_property("sync", False)

        def on_sample(appsink: Gst.Element) -> Gst.FlowReturn:
            sample = appsink.emit("pull-sample")
            buffer = sample.get_buffer()
            with buffer.map(Gst.MapFlags.READ) as info:
                data = bytes(info.data)
            result.frames.append(
                Frame(
                    data=data,
                    pts=buffer.pts,
                    caps=sample.get_caps().to_string(),
                    meta=empycustom.read_meta(buffer),
                    buffer=buffer if keep_buffers else None,
                )
            )
            if on_buffer is not None:
                on_buffer(pipeline, len(result.frames))
            return Gst.FlowReturn.OK

        sink.connect("new-sample", on_sample)
    element = pipeline.get_by_name(signal_element) if signal_element else None
    if element is not None and element.find_property("last-meta") is not None:
        element.connect("new-meta", lambda _e, text: result.signals.append(json.loads(text)))

    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    deadline_ns = int(timeout * Gst.SECOND)
    mask = (
        Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.WARNING
        | Gst.MessageType.ELEMENT
    )  # fmt: skip
    while True:
        message = bus.timed_pop_filtered(deadline_ns, mask)
        if message is None:
            break
        if message.type == Gst.MessageType.ELEMENT:
            result.element_messages.append(message.get_structure().copy())
            continue
        if message.type == Gst.MessageType.WARNING:
            result.warnings.append(error_text(message))
            continue
        if message.type == Gst.MessageType.ERROR:
            result.errors.append(error_text(message))
        else:
            result.eos = True
        break
    # Elements stop in PAUSED -> READY; the bus drops its messages on the way to NULL.
    pipeline.set_state(Gst.State.READY)
    while message := bus.pop_filtered(Gst.MessageType.WARNING | Gst.MessageType.ERROR):
        target = result.warnings if message.type == Gst.MessageType.WARNING else result.errors
        target.append(error_text(message))
    pipeline.set_state(Gst.State.NULL)
    result.pipeline = pipeline
    return result


def feed_appsrc(
    pipeline: Gst.Pipeline, caps: str, buffers: list[Gst.Buffer], name: str = "src"
) -> None:
    """Make the appsrc `name` push `buffers` with `caps`, then end the stream.

    Use from run_pipeline's `configure`. Buffers without a timestamp get 1/30 s apart.
    """
    appsrc = pipeline.get_by_name(name)
    appsrc.set_property("caps", Gst.Caps.from_string(caps))
    appsrc.set_property("format", Gst.Format.TIME)
    pending = list(buffers)
    buffers.clear()  # only the appsrc holds them once pushed, so they stay writable
    count = 0

    def need_data(source: Gst.Element, _length: int) -> None:
        nonlocal count
        if not pending:
            source.emit("end-of-stream")
            return
        buffer = pending.pop(0)
        if buffer.pts == Gst.CLOCK_TIME_NONE:
            buffer.pts = count * Gst.SECOND // 30
        count += 1
        source.emit("push-buffer", buffer)

    appsrc.connect("need-data", need_data)


class LibraryWriter:
    """Writes custom library files into a test's temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, source: str, name: str | None = None) -> str:
        self.count += 1
        path = self.folder / (name or f"lib{self.count}.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return str(path)


def gst_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for gst-launch-1.0: venv first on PATH, the plugin folder, a private registry."""
    env = dict(os.environ)
    venv_bin = os.path.dirname(sys.executable)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = os.path.dirname(venv_bin)
    env["GST_PLUGIN_PATH"] = empycustom.plugin_path()
    env.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    if extra:
        env.update(extra)
    return env


def run_gst_launch(
    arguments: list[str], *, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `gst-launch-1.0 ARGUMENTS` with the empycustom elements available."""
    return subprocess.run(
        ["gst-launch-1.0", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=gst_environment(env),
    )


DATA = Path(__file__).parent / "data"
ASTRONAUT = DATA / "astronaut.png"
ASTRONAUT_FACES = Path(empycustom.__file__).parent / "data" / "astronaut-faces.png"


def faces_source(image: Path, frames: int = 2) -> str:
    """Pipeline head: a photograph as `frames` RGBA frames carrying one ROI meta per face found
    by opencv's facedetect."""
    return (
        f"filesrc location={image} ! pngdec ! imagefreeze num-buffers={frames} ! videoconvert ! "
        "facedetect display=false ! videoconvert ! video/x-raw,format=RGBA"
    )


# gst-launch-1.0 under GStreamer's leaks tracer: at exit it lists the objects still alive.
LEAKS_TRACER_ENV = {"GST_TRACERS": "leaks", "GST_DEBUG": "leaks:7", "GST_DEBUG_NO_COLOR": "1"}


def assert_ran_without_leaks(result: subprocess.CompletedProcess[str]) -> None:
    """A run with LEAKS_TRACER_ENV ended cleanly, its tracer checked and found nothing alive."""
    assert result.returncode == 0, result.stderr[-2000:]
    listed = re.search(r"listed (\d+) alive objects", result.stderr)
    assert listed, result.stderr[-2000:]  # the tracer did run and check
    assert listed.group(1) == "0", result.stderr[-3000:]
    assert "CRITICAL" not in result.stderr

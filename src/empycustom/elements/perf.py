"""The `perf` element: frames and bits per second of the buffers passing through.

A drop-in for RidgeRun's gst-perf `perf`, which the reference's pipelines end with. Once per
interval (a second by default) it prints one line in gst-perf's format on stdout

    perf: perf0; timestamp: 0:01:02.345678901; bps: 1234.000; mean_bps: ...; fps: 30.000; ...

and posts an element message whose structure, named "perf", holds the same values as fields.
Buffers pass through untouched (passthrough: data and metas are never copied or written).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from empycustom._native import keep_thread_state
from empycustom.gst.debug import DebugCategory
from empycustom.gst.params import RW_PLAYING
from empycustom.gst.runtime import GObject, Gst, GstBase, filter_pad_templates

CAT = DebugCategory("perf", "Frame and bit rates of the buffers passing through")

BITS_PER_BYTE = 8
DEFAULT_INTERVAL_MS = 1000
G_MAXINT = 2147483647
MESSAGE_NAME = "perf"
ANY_CAPS = Gst.Caps.new_any()


def format_clock_time(ns: int) -> str:
    """A time in nanoseconds as GST_TIME_FORMAT writes it: H:MM:SS.NNNNNNNNN."""
    seconds, fraction = divmod(ns, Gst.SECOND)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}.{fraction:09d}"


@dataclass(frozen=True)
class PerfReport:
    """The rates over one interval, and since the first buffer ("mean")."""

    timestamp: int  # CLOCK_MONOTONIC ns, as gst_util_get_timestamp(), at the interval's end
    fps: float
    bps: float
    mean_fps: float
    mean_bps: float
    frames: int  # buffers counted by this and the previous reports
    bytes: int
    cpu: int | None = None  # whole-system CPU load in percent, with print-arm-load

    def line(self, name: str) -> str:
        """The report in gst-perf's text format."""
        text = (
            f"perf: {name}; timestamp: {format_clock_time(self.timestamp)}; "
            f"bps: {self.bps:.3f}; mean_bps: {self.mean_bps:.3f}; "
            f"fps: {self.fps:.3f}; mean_fps: {self.mean_fps:.3f}"
        )
        return text if self.cpu is None else f"{text}; cpu: {self.cpu}"

    def structure(self, name: str) -> Gst.Structure:
        """The report as the structure of the element message."""
        structure = Gst.Structure.new_empty(MESSAGE_NAME)
        structure.set_value("name", name)
        structure.set_value("timestamp", GObject.Value(GObject.TYPE_UINT64, self.timestamp))
        for field in ("fps", "mean_fps", "bps", "mean_bps"):
            structure.set_value(field, float(getattr(self, field)))
        structure.set_value("frames", GObject.Value(GObject.TYPE_UINT64, self.frames))
        structure.set_value("bytes", GObject.Value(GObject.TYPE_UINT64, self.bytes))
        if self.cpu is not None:
            structure.set_value("cpu", self.cpu)
        return structure


class RateMeter:
    """Counts buffers and bytes; closes an interval at the first buffer after it elapsed.

    The buffer that closes an interval opens the next one, so at a steady rate every interval
    holds exactly the buffers that arrived within it.
    """

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self.first_time: int | None = None
        self.window_start = 0
        self.last_time = 0
        self.window_frames = 0
        self.window_bytes = 0
        self.total_frames = 0
        self.total_bytes = 0

    def add(self, size: int, now: int) -> PerfReport | None:
        """Count one buffer of `size` bytes arriving at `now`; a report when an interval ended."""
        report = None
        if self.first_time is None:
            self.first_time = self.window_start = now
        elif now - self.window_start >= self.interval_ns:
            report = self._close(now)
        self.window_frames += 1
        self.window_bytes += size
        self.last_time = now
        return report

    def flush(self, now: int) -> PerfReport | None:
        """Report the unfinished interval (at end of stream); None when it holds no buffer."""
        if self.window_frames > 1:
            # End the interval one mean buffer period after the last buffer, where the next
            # buffer would have ended it: EOS comes right after the last buffer (or whenever).
            period = (self.last_time - self.window_start) // (self.window_frames - 1)
            now = self.last_time + period
        if self.window_frames == 0 or now <= self.window_start:
            return None
        return self._close(now)

    def _close(self, now: int) -> PerfReport:
        elapsed = (now - self.window_start) / Gst.SECOND
        total_elapsed = (now - self.first_time) / Gst.SECOND
        self.total_frames += self.window_frames
        self.total_bytes += self.window_bytes
        report = PerfReport(
            timestamp=now,
            fps=self.window_frames / elapsed,
            bps=self.window_bytes * BITS_PER_BYTE / elapsed,
            mean_fps=self.total_frames / total_elapsed,
            mean_bps=self.total_bytes * BITS_PER_BYTE / total_elapsed,
            frames=self.total_frames,
            bytes=self.total_bytes,
        )
        self.window_start = now
        self.window_frames = 0
        self.window_bytes = 0
        return report


class CpuLoad:
    """Whole-system CPU load between two calls, from the "cpu" line of /proc/stat."""

    def __init__(self, path: str = "/proc/stat") -> None:
        self.path = path
        self.previous: tuple[int, int] | None = None

    def percent(self) -> int | None:
        """Busy share of CPU time since the previous call (since boot on the first); None when
        /proc/stat cannot be read."""
        try:
            with open(self.path) as stat:
                fields = stat.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        # user nice system idle iowait irq softirq steal
        times = [int(value) for value in fields[1:9]]
        total, idle = sum(times), times[3] + times[4]
        previous_total, previous_idle = self.previous or (0, 0)
        self.previous = (total, idle)
        busy, spent = (total - idle) - (previous_total - previous_idle), total - previous_total
        return round(100 * busy / spent) if spent > 0 else 0


class Perf(GstBase.BaseTransform):
    __gtype_name__ = "GstPerf"  # default element names perf0, perf1... as gst-perf's
    __gstmetadata__ = (
        "Performance Identity element",
        "Generic",
        "Passes buffers through and reports frames per second and bits per second once a "
        "second (property interval), as a stdout line and an element message",
        "empycustom developers",
    )
    __gsttemplates__ = filter_pad_templates(ANY_CAPS)
    __gproperties__ = {
        "print-arm-load": (
            bool,
            "Print CPU load",
            "Add the whole-system CPU load in percent to every report (the name is gst-perf's; "
            "it works on any CPU).",
            False,
            RW_PLAYING,
        ),
        "silent": (
            bool,
            "Silent",
            "Do not print the report line on stdout; the element message is still posted.",
            False,
            RW_PLAYING,
        ),
        "interval": (
            int,
            "Interval",
            "Milliseconds between two reports. A report is made when the first buffer after the "
            "interval arrives, and once more for the unfinished interval at end of stream.",
            1,
            G_MAXINT,
            DEFAULT_INTERVAL_MS,
            RW_PLAYING,
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self.print_arm_load = False
        self.silent = False
        self.interval_ms = DEFAULT_INTERVAL_MS
        self._meter = RateMeter(self.interval_ms * Gst.MSECOND)
        self._cpu = CpuLoad()
        self.set_passthrough(True)
        self.set_gap_aware(True)

    def do_get_property(self, prop: GObject.ParamSpec) -> bool | int:
        if prop.name == "print-arm-load":
            return self.print_arm_load
        if prop.name == "silent":
            return self.silent
        if prop.name == "interval":
            return self.interval_ms
        raise AttributeError(f"unknown property {prop.name}")

    def do_set_property(self, prop: GObject.ParamSpec, value: bool | int) -> None:
        if prop.name == "print-arm-load":
            self.print_arm_load = bool(value)
        elif prop.name == "silent":
            self.silent = bool(value)
        elif prop.name == "interval":
            self.interval_ms = int(value)
            self._meter.interval_ns = self.interval_ms * Gst.MSECOND
        else:
            raise AttributeError(f"unknown property {prop.name}")

    def do_start(self) -> bool:
        self._meter = RateMeter(self.interval_ms * Gst.MSECOND)
        self._cpu = CpuLoad()
        return True

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        keep_thread_state()  # later buffers skip creating a Python thread state
        report = self._meter.add(buffer.get_size(), time.monotonic_ns())
        if report is not None:
            self._publish(report)
        return Gst.FlowReturn.OK

    def do_sink_event(self, event: Gst.Event) -> bool:
        if event.type == Gst.EventType.EOS:
            report = self._meter.flush(time.monotonic_ns())
            if report is not None:
                self._publish(report)
        return GstBase.BaseTransform.do_sink_event(self, event)

    def _publish(self, report: PerfReport) -> None:
        if self.print_arm_load:
            report = dataclasses.replace(report, cpu=self._cpu.percent())
        name = self.get_name()
        line = report.line(name)
        CAT.info(self, line)
        if not self.silent:
            print(line, flush=True)
        self.post_message(Gst.Message.new_element(self, report.structure(name)))

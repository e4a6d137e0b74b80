"""The `perf` element: rates as plain functions, then in real pipelines and gst-launch-1.0."""

from __future__ import annotations

import re
import subprocess
from itertools import pairwise

import pytest
from pipeline import gst_environment

from empycustom.elements.perf import CpuLoad, PerfReport, RateMeter, format_clock_time

SECOND = 1_000_000_000
LINE = re.compile(
    r"^perf: (?P<name>\S+); timestamp: \d+:\d\d:\d\d\.\d{9}; bps: (?P<bps>[\d.]+); "
    r"mean_bps: (?P<mean_bps>[\d.]+); fps: (?P<fps>[\d.]+); mean_fps: (?P<mean_fps>[\d.]+)"
    r"(?:; cpu: (?P<cpu>\d+))?$"
)


def test_clock_time_is_written_like_gst_time_format():
    assert format_clock_time(0) == "0:00:00.000000000"
    assert format_clock_time(3_723 * SECOND + 45) == "1:02:03.000000045"


def test_rate_meter_reports_once_per_interval_with_the_buffers_inside_it():
    meter = RateMeter(SECOND)
    reports = [meter.add(1000, n * SECOND // 10) for n in range(25)]  # 10 buffers per second
    made = [report for report in reports if report is not None]
    assert [reports.index(report) for report in made] == [10, 20]
    first, second = made
    assert first.fps == pytest.approx(10) and first.bps == pytest.approx(10 * 1000 * 8)
    assert first.frames == 10 and second.frames == 20 and second.bytes == 20_000
    assert first.timestamp == SECOND


def test_rate_meter_means_cover_the_whole_run_and_end_of_stream_reports_the_rest():
    meter = RateMeter(SECOND)
    ten_per_second = [n * SECOND // 10 for n in range(10)]
    thirty_per_second = [SECOND + n * SECOND // 30 for n in range(30)]
    reports = [meter.add(100, t) for t in ten_per_second + thirty_per_second]
    made = [report for report in reports if report is not None]
    assert len(made) == 1 and made[0].fps == pytest.approx(10)
    last = meter.flush(2 * SECOND)
    assert last.fps == pytest.approx(30) and last.frames == 40
    assert last.mean_fps == pytest.approx(20)
    assert last.mean_bps == pytest.approx(40 * 100 * 8 / 2)
    assert meter.flush(3 * SECOND) is None  # nothing new since


def test_end_of_stream_right_after_the_last_buffer_does_not_inflate_the_rate():
    meter = RateMeter(SECOND)
    for n in range(10):
        meter.add(100, n * SECOND // 10)
    last = meter.flush(9 * SECOND // 10 + 1000)  # EOS 1 us after the tenth buffer
    assert last.fps == pytest.approx(10) and last.mean_fps == pytest.approx(10)


def test_rate_meter_reports_nothing_without_buffers():
    meter = RateMeter(SECOND)
    assert meter.flush(5 * SECOND) is None


def test_report_line_has_gst_perf_format_and_structure_has_the_values():
    report = PerfReport(
        timestamp=61 * SECOND, fps=29.97, bps=1e6, mean_fps=30.0, mean_bps=2e6,
        frames=300, bytes=123, cpu=42,
    )  # fmt: skip
    assert report.line("perf0") == (
        "perf: perf0; timestamp: 0:01:01.000000000; bps: 1000000.000; mean_bps: 2000000.000; "
        "fps: 29.970; mean_fps: 30.000; cpu: 42"
    )
    structure = report.structure("perf0")
    assert structure.get_name() == "perf"
    assert structure.get_double("fps") == (True, 29.97)
    assert structure.get_uint64("frames") == (True, 300)
    assert structure.get_string("name") == "perf0"
    assert structure.get_int("cpu") == (True, 42)


def test_cpu_load_is_the_busy_share_since_the_previous_reading(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    load = CpuLoad(str(stat))
    assert load.percent() == 20  # since boot: 200 busy of 1000
    stat.write_text("cpu  150 0 150 800 100 0 0 0 0 0\n")
    assert load.percent() == 50  # 100 busy of 200
    assert CpuLoad(str(tmp_path / "missing")).percent() is None


def _live_pipeline(perf: str, buffers: int, fps: int = 50) -> str:
    return (
        f"videotestsrc is-live=true num-buffers={buffers} ! "
        f"video/x-raw,format=RGBA,width=64,height=48,framerate={fps}/1 ! {perf} ! "
        "appsink name=sink"
    )


def test_perf_reports_fps_and_bps_as_element_messages_and_passes_buffers(pipeline, capfd):
    result = pipeline(_live_pipeline("perf name=p interval=250", 50))
    assert result.eos, result.error_texts
    assert len(result.frames) == 50
    assert {b.pts - a.pts for a, b in pairwise(result.frames)} == {SECOND // 50}
    reports = [s for s in result.element_messages if s.get_name() == "perf"]
    assert len(reports) >= 3  # ~1 s of live video, a report each 250 ms, and one at EOS
    frame_bits = 64 * 48 * 4 * 8
    for structure in reports[:-1]:
        fps = structure.get_double("fps")[1]
        assert 35 < fps < 65, fps
        assert structure.get_double("bps")[1] == pytest.approx(fps * frame_bits)
    last = reports[-1]
    assert last.get_uint64("frames") == (True, 50)
    assert last.get_uint64("bytes") == (True, 50 * 64 * 48 * 4)
    assert 40 < last.get_double("mean_fps")[1] < 60
    lines = [line for line in capfd.readouterr().out.splitlines() if line.startswith("perf: ")]
    assert len(lines) == len(reports)
    assert all(LINE.match(line)["name"] == "p" for line in lines)


def test_perf_keeps_data_and_metas_untouched(pipeline, write_library):
    library = write_library(
        """
        def process_ip(buf, in_meta, options, events):
            return [{"seen": in_meta["frame"][0]["frame_num"]}]
        """
    )
    description = (
        "videotestsrc num-buffers=5 pattern=ball ! video/x-raw,format=RGBA,width=32,height=24 ! "
        f"empycustom name=e in-place=true custom-lib={library} ! {{}} appsink name=sink"
    )
    with_perf = pipeline(description.format("perf silent=true !"))
    without_perf = pipeline(description.format(""))
    assert with_perf.eos, with_perf.error_texts
    assert [frame.meta["frame"][0]["emcustom"] for frame in with_perf.frames] == [
        {"seen": n} for n in range(5)
    ]
    assert [(f.data, f.pts) for f in with_perf.frames] == [
        (f.data, f.pts) for f in without_perf.frames
    ]


def test_perf_takes_any_caps_and_counts_the_bytes_of_each_buffer(pipeline):
    result = pipeline(
        "videotestsrc num-buffers=12 pattern=ball ! video/x-raw,width=96,height=64 ! jpegenc ! "
        "perf silent=true ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert result.frames[0].caps.startswith("image/jpeg")
    sizes = [len(frame.data) for frame in result.frames]
    assert len(set(sizes)) > 1  # compressed frames differ in size
    last = [s for s in result.element_messages if s.get_name() == "perf"][-1]
    assert last.get_uint64("frames") == (True, 12)
    assert last.get_uint64("bytes") == (True, sum(sizes))


def test_perf_silent_posts_messages_without_printing(pipeline, capfd):
    result = pipeline(_live_pipeline("perf silent=true interval=100", 20))
    assert result.eos, result.error_texts
    assert any(s.get_name() == "perf" for s in result.element_messages)
    assert "perf: " not in capfd.readouterr().out


def test_perf_in_gst_launch_prints_a_line_per_second(gst_launch):
    completed = gst_launch(
        ["videotestsrc", "is-live=true", "num-buffers=40", "!",
         "video/x-raw,width=64,height=48,framerate=30/1", "!", "perf", "print-arm-load=true",
         "!", "fakesink"]
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    lines = [LINE.match(line) for line in completed.stdout.splitlines() if "perf: " in line]
    assert len(lines) == 2, completed.stdout  # after one second, and at end of stream
    assert all(match and match["name"] == "perf0" and match["cpu"] for match in lines)
    assert 20 < float(lines[0]["fps"]) < 40


def test_perf_properties_are_documented_in_gst_inspect():
    inspect = subprocess.run(
        ["gst-inspect-1.0", "perf"], capture_output=True, text=True, env=gst_environment()
    )
    assert inspect.returncode == 0, inspect.stderr
    for prop in ("print-arm-load", "silent", "interval"):
        assert prop in inspect.stdout
    assert "Milliseconds between two reports." in inspect.stdout

"""Long runs: flat memory over many buffers, paired start/stop over many state changes, and
nothing left for the leaks tracer. Short versions run in `make test`, full ones in `make soak`."""

from __future__ import annotations

import pytest
from soak import ROIS_PER_BUFFER, run_soak

RSS_GROWTH_LIMIT_KB = 5 * 1024


def check_buffers(count: int, report_figure) -> None:
    result = run_soak("buffers", count)
    summary = result.summary
    report_figure(
        f"buffers: {summary['buffers']} 16x16 RGBA buffers ({ROIS_PER_BUFFER} objects each, signal "
        f"connected, process-interval 1) in {summary['seconds']} s "
        f"({summary['us_per_buffer']} us/buffer); "
        f"RSS {summary['rss_warm_kb']} kB after warm-up -> {summary['rss_end_kb']} kB "
        f"(growth {summary['rss_growth_kb']} kB); leaks tracer: {len(result.leaks)} alive"
    )
    assert summary["eos"]
    assert summary["buffers"] == summary["signals"] == count
    # The ROI metas reach the library as in_meta objects and get its per-object results.
    assert summary["objects_per_buffer"] == summary["objects_with_results"] == ROIS_PER_BUFFER
    assert summary["messages"] == {"ERROR": 0, "WARNING": 0, "INFO": 0}, summary
    assert summary["rss_growth_kb"] < RSS_GROWTH_LIMIT_KB
    assert result.leaks == []


def check_cycles(count: int, report_figure) -> None:
    result = run_soak("cycles", count)
    summary = result.summary
    report_figure(
        f"state changes: {count} x NULL->PLAYING->NULL in {summary['null_playing_null_seconds']}"
        f" s, {count} x PLAYING->PAUSED->PLAYING in {summary['paused_playing_seconds']} s; "
        f"start() {summary['starts']} x, stop() {summary['stops']} x; "
        f"leaks tracer: {len(result.leaks)} alive"
    )
    # One more pair for the pipeline that carries the PAUSED <-> PLAYING cycles.
    assert summary["starts"] == summary["stops"] == count + 1
    assert summary["start_stop_alternate"]
    assert summary["unpaired_after_cycles"] == []
    assert summary["stalled"] == []
    assert summary["messages"] == {"ERROR": 0, "WARNING": 0, "INFO": 0}, summary
    assert result.leaks == []


def test_many_buffers_short(report_figure):
    check_buffers(20_000, report_figure)


def test_state_change_cycles(report_figure):
    check_cycles(100, report_figure)


@pytest.mark.slow
def test_many_buffers_soak(report_figure):
    check_buffers(500_000, report_figure)


@pytest.mark.slow
def test_state_change_cycles_soak(report_figure):
    check_cycles(1000, report_figure)


def test_leaks_tracer_check_sees_a_leak(write_library):
    """The leak check can fail: a map made behind the element's back leaks the frame's memory."""
    library = write_library(
        """
        from gi.repository import Gst

        def process_ip(io_buffer, in_meta, options, events):
            Gst.Buffer.map(io_buffer, Gst.MapFlags.READ)  # the class method: not tracked
            return []
        """
    )
    result = run_soak("buffers", 10, "--library", library)
    assert result.summary["eos"]
    assert any(line.startswith("GstMemory") for line in result.leaks), result.leaks

"""Mid-stream flush seeks and caps changes: handled without restarting the library.

The NULL <-> PLAYING and PAUSED <-> PLAYING cycles are in test_longrun.py (under the leaks
tracer)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from empycustom.gst.runtime import Gst

COUNTING = """
    calls = []

    def start(options):
        with open(options["log"], "a") as log:
            log.write("start\\n")

    def stop(options):
        with open(options["log"], "a") as log:
            log.write("stop\\n")

    def process_ip(io_buffer, in_meta, options, events):
        frame = in_meta["frame"][0]
        return [{"seen": [frame["width"], frame["height"], io_buffer.get_size()]}]
"""


def counting_pipeline(write_library, tmp_path, source: str) -> tuple[str, Path]:
    log = tmp_path / "calls.log"
    library = write_library(COUNTING)
    options = json.dumps({"log": str(log)}).replace('"', '\\"')
    return (
        f'{source} ! empycustom name=e in-place=true custom-lib={library} options="{options}" '
        "! appsink name=sink",
        log,
    )


def test_flush_seek_mid_stream(write_library, pipeline, tmp_path):
    description, log = counting_pipeline(
        write_library,
        tmp_path,
        "videotestsrc ! video/x-raw,format=RGBA,width=16,height=16,framerate=30/1",
    )
    reached = threading.Event()
    seek_done = threading.Event()

    def on_buffer(_p: Gst.Pipeline, count: int) -> None:
        if count >= 10 and not seek_done.is_set():
            reached.set()
            time.sleep(0.01)  # slow the stream (not block it: the seek needs it) till the seek

    def configure(p: Gst.Pipeline) -> None:
        def seek() -> None:
            reached.wait(10)
            p.seek(
                1.0,
                Gst.Format.TIME,
                Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE,
                Gst.SeekType.SET,
                2 * Gst.SECOND,
                Gst.SeekType.SET,
                3 * Gst.SECOND,
            )
            seek_done.set()

        threading.Thread(target=seek, daemon=True).start()

    result = pipeline(description, configure=configure, on_buffer=on_buffer)
    assert result.eos, result.error_texts
    assert result.warnings == []
    pts = [frame.pts for frame in result.frames]
    after = [frame for frame in result.frames if frame.pts >= 2 * Gst.SECOND]
    before = pts[: len(pts) - len(after)]
    assert len(before) >= 10 and before == [i * Gst.SECOND // 30 for i in range(len(before))]
    assert [frame.pts for frame in after] == [i * Gst.SECOND // 30 for i in range(60, 90)]
    assert all(frame.meta["frame"][0]["buf_pts"] == frame.pts for frame in result.frames)
    numbers = [frame.meta["frame"][0]["frame_num"] for frame in result.frames]
    assert numbers == sorted(set(numbers))  # never processed twice
    assert log.read_text().split() == ["start", "stop"]


def test_caps_change_mid_stream(write_library, pipeline, tmp_path):
    description, log = counting_pipeline(
        write_library,
        tmp_path,
        "videotestsrc num-buffers=30 ! capsfilter name=cf "
        "caps=video/x-raw,format=RGBA,width=16,height=16",
    )

    def on_buffer(p: Gst.Pipeline, count: int) -> None:
        if count == 10:
            p.get_by_name("cf").set_property(
                "caps", Gst.Caps.from_string("video/x-raw,format=RGBA,width=32,height=24")
            )

    result = pipeline(description, on_buffer=on_buffer)
    assert result.eos, result.error_texts
    assert result.warnings == []
    assert len(result.frames) == 30
    sizes = [
        (f.meta["frame"][0]["width"], f.meta["frame"][0]["height"], len(f.data))
        for f in result.frames
    ]
    changed = sizes.index((32, 24, 32 * 24 * 4))
    assert 10 <= changed <= 12  # the new caps reach the element within a buffer or two
    assert sizes[:changed] == [(16, 16, 16 * 16 * 4)] * changed
    assert sizes[changed:] == [(32, 24, 32 * 24 * 4)] * (30 - changed)
    for frame in result.frames:
        meta = frame.meta["frame"][0]
        assert meta["emcustom"]["seen"] == [meta["width"], meta["height"], len(frame.data)]
        assert meta["planes"][0]["stride"] == meta["width"] * 4
        assert f"width=(int){meta['width']}" in frame.caps
    assert log.read_text().split() == ["start", "stop"]  # not restarted by the new caps

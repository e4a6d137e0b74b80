"""The empycustom element in real in-process pipelines: the custom library contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from empycustom.gst.runtime import Gst, GstVideo

SOURCE = "videotestsrc num-buffers={n} pattern=black ! video/x-raw,format={fmt},width=64,height=48"
RGBA_FRAME_BYTES = 64 * 48 * 4

COUNTING_LIBRARY = """
import json
calls = []
def process_ip(io_buffer, in_meta, options, events):
    calls.append(in_meta["frame"][0]["frame_num"])
    return [{"call": len(calls)}]
"""


def source(n=5, fmt="RGBA"):
    return SOURCE.format(n=n, fmt=fmt)


def test_in_place_write_reaches_downstream(pipeline, write_library):
    lib = write_library(
        """
        import numpy as np
        from gi.repository import Gst
        def process_ip(io_buffer, in_meta, options, events):
            with io_buffer.map(Gst.MapFlags.READ | Gst.MapFlags.WRITE) as info:
                frame = np.frombuffer(info.data, np.uint8)
                frame[:] = 200
                del frame
            return ""
        """
    )
    result = pipeline(
        f"{source(3)} ! empycustom custom-lib={lib} in-place=true ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == 3
    assert all(frame.data == bytes([200]) * RGBA_FRAME_BYTES for frame in result.frames)


def test_reference_read_map_works_in_place(pipeline, write_library):
    lib = write_library(
        """
        import numpy as np
        from gi.repository import Gst
        def process_ip(io_buffer, in_meta, options, events):
            ret, map_info = io_buffer.map(Gst.MapFlags.READ)
            w = in_meta["frame"][0]["source_frame_width"]
            h = in_meta["frame"][0]["source_frame_height"]
            array = np.ndarray(shape=(h, w, 4), dtype=np.uint8, buffer=map_info.data)
            out = [{"mean": array[:, :, :3].mean(), "alpha": array[:, :, 3].mean()}]
            del array
            io_buffer.unmap(map_info)
            return str(out)
        """
    )
    result = pipeline(f"{source(2)} ! empycustom name=e custom-lib={lib} in-place=true ! fakesink")
    assert result.eos, result.error_texts
    assert [s["frame"][0]["emcustom"] for s in result.signals] == [
        {"mean": 0.0, "alpha": 255.0}
    ] * 2


@pytest.mark.parametrize(
    "returned",
    [
        "np.full((48, 64, 4), 77, np.uint8)",
        "bytes([77]) * (64 * 48 * 4)",
        "Gst.Buffer.new_wrapped(bytes([77]) * (64 * 48 * 4))",
    ],
)
def test_not_in_place_output(pipeline, write_library, returned):
    lib = write_library(
        f"""
        import numpy as np
        from gi.repository import Gst
        def process(in_buffer, in_meta, options, events):
            return {returned}, [{{"written": True}}]
        """
    )
    result = pipeline(f"{source(3)} ! empycustom custom-lib={lib} ! appsink name=sink")
    assert result.eos, result.error_texts
    assert [frame.data for frame in result.frames] == [bytes([77]) * RGBA_FRAME_BYTES] * 3
    assert [frame.pts for frame in result.frames] == [0, 33333333, 66666666]
    assert result.frames[0].meta["frame"][0]["emcustom"] == {"written": True}


def test_not_in_place_returning_input_buffer_passes_frame(pipeline, write_library):
    lib = write_library(
        """
        def process(in_buffer, in_meta, options, events):
            return in_buffer, ""
        """
    )
    result = pipeline(
        "videotestsrc num-buffers=2 pattern=white ! video/x-raw,format=RGBA,width=64,height=48 ! "
        f"empycustom custom-lib={lib} ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert [frame.data for frame in result.frames] == [bytes([255]) * RGBA_FRAME_BYTES] * 2


def test_none_drops_the_frame(pipeline, write_library):
    lib = write_library(
        """
        def process(in_buffer, in_meta, options, events):
            if in_meta["frame"][0]["frame_num"] % 2:
                return None, ""
            return in_buffer, ""
        """
    )
    result = pipeline(f"{source(6)} ! empycustom custom-lib={lib} ! appsink name=sink")
    assert result.eos, result.error_texts
    assert [frame.pts for frame in result.frames] == [0, 66666666, 133333333]


def test_not_in_place_keeps_upstream_metas_and_flags(pipeline, write_library):
    lib = write_library(
        """
        import numpy as np
        def process(in_buffer, in_meta, options, events):
            return np.zeros((48, 64, 4), np.uint8), ""
        """
    )
    pushed = Gst.Buffer.new_wrapped(bytes(RGBA_FRAME_BYTES))
    pushed.pts, pushed.duration = 5 * Gst.SECOND, Gst.SECOND // 30
    pushed.set_flags(Gst.BufferFlags.DISCONT)
    GstVideo.buffer_add_video_region_of_interest_meta(pushed, "face", 1, 2, 3, 4)

    def push(pipeline_: Gst.Pipeline) -> None:
        src = pipeline_.get_by_name("src")
        src.emit("push-buffer", pushed)
        src.emit("end-of-stream")

    result = pipeline(
        "appsrc name=src format=time caps=video/x-raw,format=RGBA,width=64,height=48,framerate=30/1"
        f" ! empycustom custom-lib={lib} ! appsink name=sink",
        configure=push,
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    (frame,) = result.frames
    assert frame.pts == 5 * Gst.SECOND
    assert frame.buffer.duration == Gst.SECOND // 30
    assert frame.buffer.has_flags(Gst.BufferFlags.DISCONT)
    roi = GstVideo.buffer_get_video_region_of_interest_meta_id(frame.buffer, 0)
    assert roi is not None and (roi.x, roi.y, roi.w, roi.h) == (1, 2, 3, 4)


def test_process_interval_calls_every_nth_buffer(pipeline, write_library):
    lib = write_library(COUNTING_LIBRARY)
    result = pipeline(
        f"{source(95)} ! empycustom name=e custom-lib={lib} in-place=true process-interval=10 "
        "! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert [s["frame"][0]["frame_num"] for s in result.signals] == list(range(0, 91, 10))
    assert [s["frame"][0]["emcustom"]["call"] for s in result.signals] == list(range(1, 11))
    assert len(result.frames) == 95
    processed = [frame.meta["frame"][0]["frame_num"] for frame in result.frames if frame.meta]
    assert processed == list(range(0, 91, 10))


def test_signal_last_meta_and_buffer_meta_agree(pipeline, write_library):
    lib = write_library(
        """
        def process_ip(io_buffer, in_meta, options, events):
            return '[{"frame_result": 1}, {"ignored": 2}]'
        """
    )
    result = pipeline(
        f"{source(3)} ! empycustom name=e custom-lib={lib} in-place=true ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert [frame.meta for frame in result.frames] == result.signals
    last = result.signals[-1]
    frame = last["frame"][0]
    assert frame["emcustom"] == {"frame_result": 1}
    assert frame["object"] == []
    assert set(frame) >= {"frame_num", "buf_pts", "timestamp", "source_frame_width",
                          "source_frame_height", "format", "object"}  # fmt: skip
    element = result.pipeline.get_by_name("e")

    assert json.loads(element.get_property("last-meta")) == last


def test_silent_stops_the_signal_but_not_the_meta(pipeline, write_library):
    lib = write_library(COUNTING_LIBRARY)
    result = pipeline(
        f"{source(3)} ! empycustom name=e custom-lib={lib} in-place=true silent=true "
        "! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert result.signals == []
    assert [frame.meta["frame"][0]["emcustom"]["call"] for frame in result.frames] == [1, 2, 3]


def test_events_delivered_once_and_merged(pipeline, write_library):
    lib = write_library(
        """
        def process_ip(io_buffer, in_meta, options, events):
            if events:
                events["seen_at"] = in_meta["frame"][0]["frame_num"]
            return ""
        """
    )

    def set_events(pipeline_: Gst.Pipeline) -> None:
        element = pipeline_.get_by_name("e")
        element.set_property("events", '{"door": "open", "n": 1}')
        element.set_property("events", "{'n': 2}")

    result = pipeline(
        f"{source(4)} ! empycustom name=e custom-lib={lib} in-place=true ! fakesink",
        configure=set_events,
    )
    assert result.eos, result.error_texts
    events = [s["frame"][0].get("events") for s in result.signals]
    assert events == [{"door": "open", "n": 2, "seen_at": 0}, None, None, None]


def test_options_reach_every_function(pipeline, write_library, tmp_path):
    record = tmp_path / "record.txt"
    lib = write_library(
        f"""
        def start(options):
            open({str(record)!r}, "a").write(f"start {{options}}\\n")
        def stop(options):
            open({str(record)!r}, "a").write(f"stop {{options}}\\n")
        def process_ip(io_buffer, in_meta, options, events):
            return [options]
        """
    )
    result = pipeline(
        f"{source(2)} ! empycustom name=e custom-lib={lib} in-place=true "
        'options="{\\"threshold\\": 0.5}" ! fakesink'
    )
    assert result.eos, result.error_texts
    assert [s["frame"][0]["emcustom"] for s in result.signals] == [{"threshold": 0.5}] * 2
    assert record.read_text().splitlines() == [
        "start {'threshold': 0.5}",
        "stop {'threshold': 0.5}",
    ]


def test_options_change_while_playing(pipeline, write_library):
    lib = write_library(
        """
        def process_ip(io_buffer, in_meta, options, events):
            return [options]
        """
    )

    def change_options(pipeline_: Gst.Pipeline, frames: int) -> None:
        if frames == 2:
            pipeline_.get_by_name("e").set_property("options", '{"v": 2}')

    result = pipeline(
        f"{source(6)} ! empycustom name=e custom-lib={lib} in-place=true options={{'v':1}} ! "
        "appsink name=sink max-buffers=1",
        on_buffer=change_options,
    )
    assert result.eos, result.error_texts
    values = [frame.meta["frame"][0]["emcustom"]["v"] for frame in result.frames]
    assert values[:2] == [1, 1] and values[-1] == 2 and values == sorted(values)


REFERENCE_DIR = Path(__file__).parent / "data" / "reference"


def test_reference_template_runs_unchanged(pipeline):
    lib = REFERENCE_DIR / "new_lib.py"
    result = pipeline(f"{source(2)} ! empycustom name=e custom-lib={lib} in-place=true ! fakesink")
    assert result.eos, result.error_texts
    assert len(result.signals) == 2
    assert all("emcustom" not in s["frame"][0] for s in result.signals)
    # Not in place, the template's process() returns None for the buffer: every frame dropped.
    result = pipeline(f"{source(2)} ! empycustom custom-lib={lib} ! appsink name=sink")
    assert result.eos, result.error_texts
    assert result.frames == []


def test_reference_average_intensity_runs_unchanged(pipeline):
    lib = REFERENCE_DIR / "average_intensity.py"
    result = pipeline(f"{source(3)} ! empycustom name=e custom-lib={lib} in-place=true ! fakesink")
    assert result.eos, result.error_texts
    assert len(result.signals) == 3


def test_str_of_list_with_numpy_floats(pipeline, write_library):
    lib = write_library(
        """
        import numpy as np
        def process_ip(io_buffer, in_meta, options, events):
            out_meta_array = [{"average": np.float64(1.5), "count": np.int64(2)}]
            return str(out_meta_array)
        """
    )
    result = pipeline(f"{source(1)} ! empycustom name=e custom-lib={lib} in-place=true ! fakesink")
    assert result.eos, result.error_texts
    assert result.signals[0]["frame"][0]["emcustom"] == {"average": 1.5, "count": 2}


def test_libraries_with_the_same_file_name_do_not_collide(pipeline, write_library):
    first = write_library("def process_ip(b, m, o, e):\n    return [{'lib': 'a'}]\n", "a/lib.py")
    second = write_library("def process_ip(b, m, o, e):\n    return [{'lib': 'b'}]\n", "b/lib.py")
    result = pipeline(
        f"{source(1)} ! empycustom name=first custom-lib={first} in-place=true ! "
        f"empycustom name=e custom-lib={second} in-place=true ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert result.signals[0]["frame"][0]["emcustom"] == {"lib": "b"}
    first_meta = json.loads(result.pipeline.get_by_name("first").get_property("last-meta"))
    assert first_meta["frame"][0]["emcustom"] == {"lib": "a"}


def test_i420_frames(pipeline, write_library):
    lib = write_library(
        """
        def process_ip(io_buffer, in_meta, options, events):
            frame = in_meta["frame"][0]
            return [{"format": frame["format"], "planes": len(frame["planes"])}]
        """
    )
    result = pipeline(f"{source(1, 'I420')} ! empycustom name=e custom-lib={lib} in-place=true "
                      "! fakesink")  # fmt: skip
    assert result.eos, result.error_texts
    assert result.signals[0]["frame"][0]["emcustom"] == {"format": "I420", "planes": 3}


@pytest.mark.parametrize("name, value", [("custom-lib", "/tmp/other.py"), ("in-place", False)])
def test_changing_library_or_mode_while_running_is_refused(pipeline, write_library, name, value):
    lib = write_library(COUNTING_LIBRARY)

    def change(pipeline_: Gst.Pipeline, frames: int) -> None:
        if frames == 1:
            pipeline_.get_by_name("e").set_property(name, value)

    result = pipeline(
        f"{source(3)} ! empycustom name=e custom-lib={lib} in-place=true ! appsink name=sink",
        on_buffer=change,
    )
    assert result.eos, result.error_texts
    assert len(result.signals) == 3
    assert any(f"property '{name}' cannot change while the element is running" in text
               for text, _debug in result.warnings)  # fmt: skip
    element = result.pipeline.get_by_name("e")
    assert element.get_property("custom-lib") == lib
    assert element.get_property("in-place") is True


def test_start_and_stop_pair_per_run(pipeline, write_library, tmp_path):
    record = tmp_path / "calls.txt"
    lib = write_library(
        f"""
        def start(options):
            open({str(record)!r}, "a").write("start\\n")
        def stop(options):
            open({str(record)!r}, "a").write("stop\\n")
        def process_ip(io_buffer, in_meta, options, events):
            return ""
        """
    )
    for _ in range(3):
        assert pipeline(f"{source(2)} ! empycustom custom-lib={lib} in-place=true ! fakesink").eos
    assert record.read_text().split() == ["start", "stop"] * 3


def test_frame_num_counts_every_buffer(pipeline, write_library):
    lib = write_library(COUNTING_LIBRARY)
    result = pipeline(
        f"{source(7)} ! empycustom name=e custom-lib={lib} in-place=true process-interval=3 "
        "! fakesink"
    )
    assert [s["frame"][0]["frame_num"] for s in result.signals] == [0, 3, 6]


def test_frames_are_not_copied_in_place(pipeline, write_library):
    lib = write_library(
        """
        import numpy as np
        from gi.repository import Gst
        addresses = []
        def process_ip(io_buffer, in_meta, options, events):
            with io_buffer.map(Gst.MapFlags.READ) as info:
                addresses.append(np.frombuffer(info.data, np.uint8).ctypes.data)
            return [{"address": addresses[-1]}]
        """
    )
    seen = []

    def probe(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        with info.get_buffer().map(Gst.MapFlags.READ) as mapped:
            seen.append(np.frombuffer(mapped.data, np.uint8).ctypes.data)
        return Gst.PadProbeReturn.OK

    def add_probe(pipeline_: Gst.Pipeline) -> None:
        pad = pipeline_.get_by_name("e").get_static_pad("sink")
        pad.add_probe(Gst.PadProbeType.BUFFER, probe)

    result = pipeline(
        f"{source(3)} ! empycustom name=e custom-lib={lib} in-place=true ! fakesink",
        configure=add_probe,
    )
    assert result.eos, result.error_texts
    assert [s["frame"][0]["emcustom"]["address"] for s in result.signals] == seen


def test_not_in_place_returning_the_input_buffer_shares_its_memory(pipeline, write_library):
    """An unchanged frame is not copied: the output buffer takes the input's memory."""
    lib = write_library(
        """
        import numpy as np
        from gi.repository import Gst
        def process(in_buffer, in_meta, options, events):
            with in_buffer.map(Gst.MapFlags.READ) as info:
                address = np.frombuffer(info.data, np.uint8).ctypes.data
            return in_buffer, [{"address": address}]
        """
    )
    result = pipeline(f"{source(3)} ! empycustom custom-lib={lib} ! appsink name=sink",
                      keep_buffers=True)  # fmt: skip
    assert result.eos, result.error_texts
    for frame in result.frames:
        with frame.buffer.map(Gst.MapFlags.READ) as info:
            address = np.frombuffer(info.data, np.uint8).ctypes.data
        assert frame.meta["frame"][0]["emcustom"]["address"] == address


def test_a_handler_connected_mid_stream_gets_the_following_frames(pipeline, write_library):
    """Without handlers nothing is emitted; a handler connected while playing is served."""
    lib = write_library(COUNTING_LIBRARY)
    late: list[int] = []

    def connect_late(pipeline_: Gst.Pipeline, frames: int) -> None:
        if frames == 3:
            pipeline_.get_by_name("e").connect(
                "new-meta", lambda _e, text: late.append(json.loads(text)["frame"][0]["frame_num"])
            )

    result = pipeline(
        f"{source(6)} ! empycustom name=e custom-lib={lib} in-place=true ! "
        "appsink name=sink max-buffers=1",
        on_buffer=connect_late,
        signal_element=None,
    )
    assert result.eos, result.error_texts
    assert late and late == list(range(late[0], 6)) and late[0] >= 3

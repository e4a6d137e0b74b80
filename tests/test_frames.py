"""Frames as numpy views: every format and size, in place and not, with and without video meta."""

from __future__ import annotations

import ctypes
import functools
import gc
import re
from pathlib import Path

import numpy as np
import pytest
from frame_patterns import (
    FORMATS,
    caps_for,
    default_layout,
    expected_shapes,
    meta_layout,
    pattern,
    pattern_buffer,
    rgba_pixels,
)
from pipeline import feed_appsrc, run_pipeline

import empycustom
from empycustom import _native
from empycustom.examples import example_path
from empycustom.frames.layout import FrameLayout
from empycustom.frames.views import plane_views, write_output
from empycustom.gst.runtime import GLib, Gst, caps_structure

SIZES = [(16, 8), (641, 3), (642, 2), (7, 5)]
META_SIZES = [(641, 3), (7, 5)]
TO_RGBA = "videoconvert ! video/x-raw,format=RGBA ! appsink name=sink"
# Without videoconvert's pool, not-in-place output buffers are sized by transform_size.
NO_POOL = "identity drop-allocation=true"

# Writes pattern() through the helper (process_ip) or returns it as new arrays (process).
PATTERN_LIBRARY = """
    import empycustom
    from frame_patterns import pattern

    def planes_of(view):
        return view if isinstance(view, tuple) else (view,)

    def process_ip(buffer, in_meta, options, events):
        with empycustom.frame(buffer, in_meta, writable=True) as view:
            for index, plane in enumerate(planes_of(view)):
                plane[...] = pattern(plane.shape, index)
        return {"shapes": [list(plane.shape) for plane in planes_of(view)]}

    def process(buffer, in_meta, options, events):
        with empycustom.frame(buffer, in_meta) as view:
            planes = [pattern(plane.shape, index) for index, plane in enumerate(planes_of(view))]
        out = tuple(planes) if isinstance(view, tuple) else planes[0]
        return out, {"shapes": [list(plane.shape) for plane in planes]}
"""


@functools.cache
def reference_rgba(format: str, width: int, height: int) -> np.ndarray:
    """What videoconvert makes of a frame holding pattern(), laid out by GStreamer's defaults."""
    buffers = [pattern_buffer(format, width, height)]
    result = run_pipeline(
        f"appsrc name=src ! {TO_RGBA}",
        configure=lambda p: feed_appsrc(p, caps_for(format, width, height), buffers),
    )
    assert result.eos, result.error_texts
    frame = result.frames[0]
    return np.array(rgba_pixels(frame.data, frame.caps))


def assert_frames_show_pattern(result, format: str, width: int, height: int, count: int) -> None:
    assert result.eos, result.error_texts
    assert len(result.frames) == count
    expected = reference_rgba(format, width, height)
    for frame in result.frames:
        np.testing.assert_array_equal(rgba_pixels(frame.data, frame.caps, frame.buffer), expected)


def mode(in_place: bool) -> str:
    return f"in-place={'true' if in_place else 'false'}"


def run_from_appsrc(element: str, format: str, size: tuple[int, int], buffers: list[Gst.Buffer]):
    """Push `buffers` through `empycustom name=e ELEMENT`, without a downstream pool, to RGBA."""
    return run_pipeline(
        f"appsrc name=src ! empycustom name=e {element} ! {NO_POOL} ! {TO_RGBA}",
        configure=lambda p: feed_appsrc(p, caps_for(format, *size), buffers),
        keep_buffers=True,
    )


def described_planes(strides: list[int], offsets: list[int]) -> list[dict[str, int]]:
    return [{"stride": s, "offset": o} for s, o in zip(strides, offsets, strict=True)]


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "not-in-place"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("format", FORMATS)
def test_pattern_written_through_views_reaches_downstream(
    pipeline, write_library, format, size, in_place
):
    width, height = size
    lib = write_library(PATTERN_LIBRARY)
    result = pipeline(
        f"videotestsrc num-buffers=2 pattern=smpte ! {caps_for(format, width, height)} ! "
        f"empycustom name=e {mode(in_place)} custom-lib={lib} ! {TO_RGBA}",
        keep_buffers=True,
    )
    assert_frames_show_pattern(result, format, width, height, 2)
    frame_meta = result.signals[0]["frame"][0]
    assert frame_meta["emcustom"]["shapes"] == [
        list(s) for s in expected_shapes(format, width, height)
    ]
    strides, offsets, _size = default_layout(format, width, height)
    assert (frame_meta["format"], frame_meta["width"], frame_meta["height"]) == (
        format,
        width,
        height,
    )
    assert frame_meta["planes"] == described_planes(strides, offsets)


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "not-in-place"])
@pytest.mark.parametrize("layout", ["padded", "tight"])
@pytest.mark.parametrize("size", META_SIZES, ids=[f"{w}x{h}" for w, h in META_SIZES])
@pytest.mark.parametrize("format", FORMATS)
def test_frames_laid_out_by_a_video_meta(write_library, format, size, layout, in_place):
    """Upstream's GstVideoMeta (other strides and offsets) is what in_meta and the views follow."""
    width, height = size
    lib = write_library(PATTERN_LIBRARY)
    # Blank frames (0xee everywhere): only what the library writes can match the reference.
    buffers = [pattern_buffer(format, width, height, layout, blank=True) for _ in range(2)]
    result = run_from_appsrc(f"{mode(in_place)} custom-lib={lib}", format, size, buffers)
    assert_frames_show_pattern(result, format, width, height, 2)
    strides, offsets, _size = meta_layout(format, width, height, layout)
    assert result.signals[0]["frame"][0]["planes"] == described_planes(strides, offsets)


@pytest.mark.parametrize("layout", ["default", "padded", "tight"])
@pytest.mark.parametrize("format", ["RGB", "I420", "NV12"])
def test_not_in_place_passes_the_input_frame_on(write_library, format, layout):
    """Returning in_buffer, and frames skipped by process-interval, copy the frame by planes."""
    width, height = 7, 5
    lib = write_library("def process(buffer, in_meta, options, events):\n    return buffer, {}\n")
    buffers = [pattern_buffer(format, width, height, layout) for _ in range(3)]
    result = run_from_appsrc(f"custom-lib={lib} process-interval=2", format, (7, 5), buffers)
    assert_frames_show_pattern(result, format, width, height, 3)


@pytest.mark.parametrize("kind", ["list", "bytes"])
def test_not_in_place_accepts_plane_lists_and_frame_bytes(pipeline, write_library, kind):
    lib = write_library(
        """
        from frame_patterns import expected_shapes, pattern, pattern_buffer
        from gi.repository import Gst

        def process(buffer, in_meta, options, events):
            if options["kind"] == "list":
                shapes = expected_shapes("NV12", 7, 5)
                return [pattern(shape, index) for index, shape in enumerate(shapes)], {}
            source = pattern_buffer("NV12", 7, 5)
            with source.map(Gst.MapFlags.READ) as info:
                return bytes(info.data), {}
        """
    )
    result = pipeline(
        f"videotestsrc num-buffers=1 ! {caps_for('NV12', 7, 5)} ! "
        f'empycustom name=e custom-lib={lib} options={{\\"kind\\":\\"{kind}\\"}} ! {TO_RGBA}',
        keep_buffers=True,
    )
    assert_frames_show_pattern(result, "NV12", 7, 5, 1)


@pytest.mark.parametrize(
    ("format", "size", "returned", "message"),
    [
        (
            "RGB",
            (641, 480),
            "np.zeros((480, 640, 3), np.uint8)",
            "expected uint8 (480, 641, 3) for RGB 641x480",
        ),
        ("RGBA", (7, 5), "np.zeros((5, 7, 4), np.float32)", "numpy array float32 (5, 7, 4)"),
        (
            "I420",
            (7, 5),
            "np.zeros((5, 7), np.uint8)",
            "expected a tuple of 3 uint8 arrays Y (5, 7), U (3, 4), V (3, 4) for I420 7x5",
        ),
        (
            "NV12",
            (7, 5),
            "(np.zeros((5, 7), np.uint8), np.zeros((3, 4), np.uint8))",
            "expected a tuple of 2 uint8 arrays Y (5, 7), UV (3, 4, 2) for NV12 7x5",
        ),
        ("GRAY8", (7, 5), "b'x' * 35", "process() returned 35 bytes; GRAY8 7x5 needs 40"),
        ("GRAY8", (7, 5), "'text'", "process() returned a str as out_buffer"),
        (
            "GRAY8",
            (7, 5),
            "Gst.Buffer.new_allocate(None, 10, None)",
            "process() returned a Gst.Buffer that does not hold the frame: GRAY8 7x5 needs 39 "
            "bytes for plane 0 (offset 0, stride 8) but the buffer holds 10",
        ),
    ],
    ids=[
        "rgb-shape",
        "dtype",
        "planar-as-one-array",
        "nv12-plane-shape",
        "bytes-size",
        "str",
        "small-buffer",
    ],
)
def test_wrong_output_frame_is_a_clear_error(
    pipeline, write_library, format, size, returned, message
):
    lib = write_library(
        "import numpy as np\nfrom gi.repository import Gst\n\n"
        f"def process(buffer, in_meta, options, events):\n"
        f"    return {returned}, {{}}\n"
    )
    result = pipeline(
        f"videotestsrc num-buffers=1 ! {caps_for(format, *size)} ! "
        f"empycustom name=e custom-lib={lib} ! fakesink"
    )
    assert not result.eos
    assert message in result.error_texts
    assert lib in result.error_texts


def test_caps_offer_exactly_the_viewable_formats():
    templates = Gst.ElementFactory.find("empycustom").get_static_pad_templates()
    assert sorted(template.direction.value_nick for template in templates) == ["sink", "src"]
    for template in templates:
        caps = template.get_caps()
        assert caps.get_size() == 1
        structure = caps_structure(caps)
        assert structure.get_name() == "video/x-raw"
        assert sorted(structure.get_value("format")) == sorted(FORMATS)
    assert sorted(empycustom.frames.views.FORMATS) == sorted(FORMATS)


def test_other_formats_are_refused_by_negotiation(pipeline, write_library):
    lib = write_library("def process_ip(buffer, in_meta, options, events):\n    return {}\n")
    with pytest.raises(GLib.Error, match="e can't handle caps video/x-raw, format=.*YUY2"):
        pipeline(
            "videotestsrc num-buffers=1 ! video/x-raw,format=YUY2 ! "
            f"empycustom name=e in-place=true custom-lib={lib} ! fakesink"
        )


@pytest.mark.parametrize("layout", ["padded", "tight"])
@pytest.mark.parametrize("format", FORMATS)
def test_output_buffers_with_a_video_meta_are_written_by_their_meta(format, layout):
    """A downstream pool may hand out buffers laid out by a video meta: write_output follows it."""
    width, height = 7, 5
    caps_layout = FrameLayout.from_caps(Gst.Caps.from_string(caps_for(format, width, height)))
    outbuf = pattern_buffer(format, width, height, layout, blank=True)
    planes = [
        pattern(shape, index) for index, shape in enumerate(expected_shapes(format, width, height))
    ]
    write_output(tuple(planes) if len(planes) > 1 else planes[0], outbuf, caps_layout)
    expected = pattern_buffer(format, width, height, layout)  # same bytes, padding included
    with outbuf.map(Gst.MapFlags.READ) as written, expected.map(Gst.MapFlags.READ) as wanted:
        assert bytes(written.data) == bytes(wanted.data)


@pytest.mark.parametrize(
    ("format", "width", "height", "streamed"),
    [
        ("RGBA", 1024, 768, 1),  # 3 MiB: streamed past the cache
        ("I420", 2048, 1088, 1),  # Y (2.1 MiB) streamed, U and V copied as usual
        ("RGBA", 640, 480, 0),  # 1.2 MiB: copied as usual
    ],
)
def test_large_output_planes_are_streamed_and_exact(monkeypatch, format, width, height, streamed):
    calls = []

    def counting_stream_copy(target, plane):
        calls.append(plane.nbytes)
        _native.stream_copy(target, plane)

    monkeypatch.setattr(empycustom.frames.views, "stream_copy", counting_stream_copy)
    layout = FrameLayout.from_caps(Gst.Caps.from_string(caps_for(format, width, height)))
    rng = np.random.default_rng(7)
    shapes = expected_shapes(format, width, height)
    planes = [rng.integers(0, 256, shape, np.uint8) for shape in shapes]
    outbuf = Gst.Buffer.new_allocate(None, layout.size, None)
    write_output(tuple(planes) if len(planes) > 1 else planes[0], outbuf, layout)
    assert len(calls) == streamed
    with outbuf.map(Gst.MapFlags.READ) as written:
        views = plane_views(written.data, format, width, height, layout.strides, layout.offsets)
        for view, plane in zip(views, planes, strict=True):
            assert np.array_equal(view, plane)


def test_stream_copy_handles_any_alignment_overlap_and_refuses_other_sizes():
    rng = np.random.default_rng(3)
    # Streamed (from 1 MiB) and copied by memcpy (below: a frame that fits a core's cache).
    for size in (4 * 1024 * 1024 + 7, 1024 * 1024 + 5, 1024 * 1024 - 1, 320 * 240 * 4, 40):
        source = rng.integers(0, 256, size, np.uint8)
        for offset in (0, 1, 9, 15):
            target = np.zeros(source.size + 32, np.uint8)
            _native.stream_copy(target[offset : offset + source.size - 5], source[5:])
            assert np.array_equal(target[offset : offset + source.size - 5], source[5:])
            assert not target[: offset].any() and not target[offset + source.size - 5 :].any()
    overlapping = np.arange(100, dtype=np.uint8)
    _native.stream_copy(overlapping[10:60], overlapping[0:50])
    assert np.array_equal(overlapping[10:60], np.arange(50, dtype=np.uint8))
    with pytest.raises(ValueError, match="same size"):
        _native.stream_copy(np.zeros(10, np.uint8), np.zeros(11, np.uint8))
    with pytest.raises(BufferError):
        _native.stream_copy(bytes(10), np.zeros(10, np.uint8))  # not writable


@pytest.mark.parametrize("format", FORMATS)
def test_bundled_example_measures_every_format(pipeline, format):
    """average_intensity.py reads through frame(): white is 255 in RGB, Y=235 in luma formats."""
    lib = example_path("average_intensity.py")
    result = pipeline(
        f"videotestsrc num-buffers=1 pattern=white ! {caps_for(format, 33, 7)} ! "
        f"empycustom name=e in-place=true custom-lib={lib} ! fakesink"
    )
    assert result.eos, result.error_texts
    luma = format in ("GRAY8", "I420", "NV12")
    assert result.signals[0]["frame"][0]["emcustom"] == {
        "average_intensity": 235.0 if luma else 255.0
    }


# Zero copy and what happens after the block


def memory_lockstate(buffer: Gst.Buffer) -> int:
    """GstMiniObject.lockstate of the buffer's memory: it counts the maps still held."""
    memory = buffer.peek_memory(0)
    return ctypes.c_int.from_address(hash(memory) + 12).value  # after GType type, refcount


def frame_buffer(format: str, width: int, height: int) -> tuple[Gst.Buffer, dict]:
    strides, offsets, size = default_layout(format, width, height)
    buffer = Gst.Buffer.new_allocate(None, size, None)
    planes = [{"stride": s, "offset": o} for s, o in zip(strides, offsets, strict=True)]
    in_meta = {"frame": [{"format": format, "width": width, "height": height, "planes": planes}]}
    return buffer, in_meta


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("format", FORMATS)
def test_views_point_into_the_mapped_memory(format, size):
    width, height = size
    strides, offsets, total = default_layout(format, width, height)
    memory = np.zeros(total, np.uint8)
    views = plane_views(memory, format, width, height, strides, offsets)
    start = memory.ctypes.data
    for view, shape, stride, offset in zip(
        views, expected_shapes(format, width, height), strides, offsets, strict=True
    ):
        assert view.shape == shape
        assert view.strides[0] == stride
        assert view.ctypes.data == start + offset
        assert np.shares_memory(view, memory)


@pytest.mark.parametrize(("format", "size"), [("RGB", (641, 3)), ("I420", (7, 5))])
def test_views_in_a_pipeline_are_zero_copy(pipeline, write_library, format, size):
    lib = write_library(
        """
        import numpy as np
        import empycustom
        from gi.repository import Gst

        def process_ip(buffer, in_meta, options, events):
            planes = in_meta["frame"][0]["planes"]
            with empycustom.frame(buffer, in_meta, writable=True) as view:
                views = view if isinstance(view, tuple) else (view,)
                with buffer.map(Gst.MapFlags.READ) as info:  # a second map of the same memory
                    memory = np.frombuffer(info.data, np.uint8)
                    at_offsets = [
                        v.ctypes.data - memory.ctypes.data == p["offset"]
                        for v, p in zip(views, planes)
                    ]
                    views[-1][-1, -1] = 201
                    last = planes[-1]
                    row_end = views[-1][-1].size
                    index = last["offset"] + (views[-1].shape[0] - 1) * last["stride"] + row_end
                    seen = int(memory[index - 1])
                    del memory
            return {"at_offsets": at_offsets, "seen": seen}
        """
    )
    result = pipeline(
        f"videotestsrc num-buffers=1 ! {caps_for(format, *size)} ! "
        f"empycustom name=e in-place=true custom-lib={lib} ! fakesink"
    )
    assert result.eos, result.error_texts
    returned = result.signals[0]["frame"][0]["emcustom"]
    assert returned["at_offsets"] == [True] * len(expected_shapes(format, *size))
    assert returned["seen"] == 201


def test_block_end_unmaps_and_makes_views_read_only():
    buffer, in_meta = frame_buffer("I420", 7, 5)
    unmapped = memory_lockstate(buffer)
    with empycustom.frame(buffer, in_meta, writable=True) as (y, u, v):
        assert memory_lockstate(buffer) != unmapped
        y[0, 0], u[0, 0], v[0, 0] = 1, 2, 3
    assert memory_lockstate(buffer) == unmapped
    for plane in (y, u, v):
        with pytest.raises(ValueError, match="read-only"):
            plane[0, 0] = 9
    with buffer.map(Gst.MapFlags.READ) as info:
        strides, offsets, _size = default_layout("I420", 7, 5)
        assert [info.data[offset] for offset in offsets] == [1, 2, 3]


def test_an_exception_in_the_block_still_unmaps():
    buffer, in_meta = frame_buffer("RGB", 641, 3)
    unmapped = memory_lockstate(buffer)
    with pytest.raises(ZeroDivisionError):
        with empycustom.frame(buffer, in_meta["frame"][0], writable=True):
            1 / 0  # noqa: B018
    assert memory_lockstate(buffer) == unmapped


def test_read_only_views_refuse_writes():
    buffer, in_meta = frame_buffer("RGBA", 4, 2)
    with empycustom.frame(buffer, in_meta) as rgba:
        assert rgba.shape == (2, 4, 4)
        with pytest.raises(ValueError, match="read-only"):
            rgba[0, 0, 0] = 1


def test_writable_views_need_a_writable_buffer():
    buffer, in_meta = frame_buffer("RGBA", 4, 2)
    shared = Gst.Sample.new(buffer, None, None, None).get_buffer()  # a second reference
    unmapped = memory_lockstate(buffer)
    with pytest.raises(empycustom.FrameError, match="needs a writable buffer"):
        with empycustom.frame(shared, in_meta, writable=True):
            pass
    assert memory_lockstate(buffer) == unmapped


def test_frame_of_something_else_than_a_buffer_is_a_clear_error():
    _buffer, in_meta = frame_buffer("RGBA", 4, 2)
    with pytest.raises(empycustom.FrameError, match="expected a Gst.Buffer, got bytes"):
        with empycustom.frame(bytes(32), in_meta):
            pass


def test_the_buffer_is_writable_again_after_a_writable_block():
    buffer, in_meta = frame_buffer("RGBA", 4, 2)
    with empycustom.frame(buffer, in_meta, writable=True) as rgba:
        rgba[0, 0] = 255
        kept = rgba  # a view kept past the block does not keep the buffer
    with empycustom.frame(buffer, in_meta, writable=True) as rgba:  # FrameError if not writable
        assert list(rgba[0, 0]) == [255] * 4
    assert not kept.flags.writeable


@pytest.mark.parametrize(
    ("frame_meta", "message"),
    [
        ({"format": "RGBA", "width": 4, "height": 2}, "in_meta does not describe the frame"),
        (
            {"format": "YUY2", "width": 4, "height": 2, "planes": [{"stride": 8, "offset": 0}]},
            "format YUY2 has no numpy view",
        ),
        (
            {"format": "RGBA", "width": 4, "height": 3, "planes": [{"stride": 16, "offset": 0}]},
            "RGBA 4x3 needs 48 bytes for plane 0 (offset 0, stride 16) but the buffer holds 32",
        ),
    ],
    ids=["no-planes", "format", "too-small"],
)
def test_frame_descriptions_that_do_not_fit_are_clear_errors(frame_meta, message):
    buffer, _in_meta = frame_buffer("RGBA", 4, 2)
    unmapped = memory_lockstate(buffer)
    with pytest.raises(
        empycustom.FrameError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        with empycustom.frame(buffer, {"frame": [frame_meta]}):
            pass
    assert memory_lockstate(buffer) == unmapped


def test_a_view_kept_past_its_block_refuses_writes_in_the_next_call(pipeline, write_library):
    lib = write_library(
        """
        import empycustom

        kept = []

        def process_ip(buffer, in_meta, options, events):
            if kept:
                kept[0][0, 0] = 255  # last frame's view: must not reach this frame's memory
            with empycustom.frame(buffer, in_meta, writable=True) as gray:
                kept.append(gray)
            return {}
        """
    )
    result = pipeline(
        f"videotestsrc num-buffers=2 ! {caps_for('GRAY8', 8, 4)} ! "
        f"empycustom name=e in-place=true custom-lib={lib} ! fakesink"
    )
    assert not result.eos
    assert "ValueError: assignment destination is read-only" in result.error_texts


def readme_examples(section: str) -> list[str]:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    text = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_frame_examples_run(write_library):
    packed, planar = readme_examples("Working with frames")
    buffers = [pattern_buffer("RGB", 641, 3)]
    result = run_from_appsrc(
        f"in-place=true custom-lib={write_library(packed)}", "RGB", (641, 3), buffers
    )
    assert result.eos, result.error_texts
    expected = reference_rgba("RGB", 641, 3).copy()
    expected[:, :, 0] = 255 - expected[:, :, 0]
    frame = result.frames[0]
    np.testing.assert_array_equal(rgba_pixels(frame.data, frame.caps, frame.buffer), expected)

    buffers = [pattern_buffer("I420", 7, 5)]
    result = run_from_appsrc(f"custom-lib={write_library(planar)}", "I420", (7, 5), buffers)
    assert result.eos, result.error_texts
    mean_luma = result.signals[0]["frame"][0]["emcustom"]["mean_luma"]
    assert mean_luma == pytest.approx(float((255 - pattern((5, 7), 0)).mean()))


def test_frames_under_gst_launch(gst_launch):
    """The plugin loader's element negotiates NV12 and the example reads it through frame()."""
    lib = example_path("average_intensity.py")
    done = gst_launch(
        [
            "videotestsrc",
            "num-buffers=2",
            "pattern=white",
            "!",
            caps_for("NV12", 7, 5),
            "!",
            "empycustom",
            "in-place=true",
            f"custom-lib={lib}",
            "!",
            "fakesink",
        ]  # fmt: skip
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "ERROR" not in done.stderr + done.stdout
    assert "CRITICAL" not in done.stderr


def test_a_layout_seen_before_still_checks_the_buffer_size():
    buffer, in_meta = frame_buffer("RGBA", 4, 2)
    with empycustom.frame(buffer, in_meta):  # the layout's plane shapes are now kept
        pass
    small = Gst.Buffer.new_allocate(None, 16, None)
    with pytest.raises(empycustom.FrameError, match="needs 32 bytes .* holds 16"):
        with empycustom.frame(small, in_meta):
            pass
    assert memory_lockstate(small) == memory_lockstate(Gst.Buffer.new_allocate(None, 16, None))


def test_one_frame_call_maps_once_at_a_time():
    buffer, in_meta = frame_buffer("RGBA", 4, 2)
    views = empycustom.frame(buffer, in_meta)
    with views as rgba:
        with pytest.raises(empycustom.FrameError, match="already mapped"):
            with views:
                pass
        assert rgba.shape == (2, 4, 4)
    with views as again:  # and again after the block
        assert again.shape == (2, 4, 4)


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "not-in-place"])
@pytest.mark.parametrize("layout", ["padded", "tight"])
@pytest.mark.parametrize("workers", ["workers=2", "workers=2 worker-kind=process"])
@pytest.mark.parametrize("format", ["RGBA", "I420", "NV12"])
def test_frames_laid_out_by_a_video_meta_with_workers(write_library, format, workers, layout,
                                                      in_place):  # fmt: skip
    """As without workers: the views follow upstream's video meta, output frames arrive whole."""
    width, height = 641, 3
    lib = write_library(PATTERN_LIBRARY)
    buffers = [pattern_buffer(format, width, height, layout, blank=True) for _ in range(3)]
    result = run_from_appsrc(
        f"{mode(in_place)} {workers} custom-lib={lib}", format, (width, height), buffers
    )
    assert_frames_show_pattern(result, format, width, height, 3)
    strides, offsets, _size = meta_layout(format, width, height, layout)
    assert result.signals[0]["frame"][0]["planes"] == described_planes(strides, offsets)


def test_frame_views_take_part_in_garbage_collection():
    buffer = Gst.Buffer.new_wrapped(bytes(4 * 2 * 4))
    views = empycustom.frame(buffer, {"format": "RGBA", "width": 4, "height": 2,
                                      "planes": [{"stride": 16, "offset": 0}]})  # fmt: skip

    def referents() -> list:
        return [item for item in gc.get_referents(views) if not isinstance(item, tuple)]

    assert gc.is_tracked(views)
    assert referents() == [buffer]  # a cycle through the buffer can be collected
    with views as image:
        held = referents()  # the buffer, its map and the list of the views yielded
        assert len(held) == 3 and held[0] is buffer and held[2][0] is image
    assert referents() == [buffer]

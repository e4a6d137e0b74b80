"""Test oracle for frames: known pixel patterns, frames laid out by hand, and RGBA read-back.

Written independently of empycustom.frames.views: plane shapes are spelled out here, and plane
positions come from GStreamer's own VideoInfo (or from explicit strides given by a GstVideoMeta).
"""

from __future__ import annotations

import numpy as np

from empycustom.gst.runtime import Gst, GstVideo, caps_structure

FORMATS = ("RGBA", "RGBx", "BGRA", "BGRx", "RGB", "BGR", "GRAY8", "I420", "NV12")


def expected_shapes(format: str, width: int, height: int) -> list[tuple[int, ...]]:
    """The numpy shape of each plane, as the README promises it."""
    chroma = (-(-height // 2), -(-width // 2))
    return {
        "RGBA": [(height, width, 4)],
        "RGBx": [(height, width, 4)],
        "BGRA": [(height, width, 4)],
        "BGRx": [(height, width, 4)],
        "RGB": [(height, width, 3)],
        "BGR": [(height, width, 3)],
        "GRAY8": [(height, width)],
        "I420": [(height, width), chroma, chroma],
        "NV12": [(height, width), (*chroma, 2)],
    }[format]


def pattern(shape: tuple[int, ...], plane: int) -> np.ndarray:
    """Deterministic noise for one plane: a misplaced row, column or plane changes pixels."""
    seed = plane * 1_000_003 + sum(size * 31**i for i, size in enumerate(shape))
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def caps_for(format: str, width: int, height: int) -> str:
    return f"video/x-raw,format={format},width={width},height={height},framerate=30/1"


def default_layout(format: str, width: int, height: int) -> tuple[list[int], list[int], int]:
    """(strides, offsets, size) GStreamer gives these caps when no video meta says otherwise."""
    info = GstVideo.VideoInfo.new_from_caps(Gst.Caps.from_string(caps_for(format, width, height)))
    planes = info.finfo.n_planes
    return list(info.stride[:planes]), list(info.offset[:planes]), info.size


def meta_layout(
    format: str, width: int, height: int, kind: str
) -> tuple[list[int], list[int], int]:
    """A layout only a GstVideoMeta can describe.

    "padded": strides 40 bytes wider than the default and 24-byte gaps before every plane;
    "tight": strides of exactly one row of samples, planes back to back (smaller than the caps'
    frame when the default rounds strides up).
    """
    shapes = expected_shapes(format, width, height)
    if kind == "padded":
        strides, _offsets, _size = default_layout(format, width, height)
        strides, gap = [stride + 40 for stride in strides], 24
    else:
        strides, gap = [int(np.prod(shape[1:])) for shape in shapes], 0
    offsets, position = [], gap
    for stride, shape in zip(strides, shapes, strict=True):
        offsets.append(position)
        position += stride * shape[0] + gap
    return strides, offsets, position


def pattern_buffer(
    format: str, width: int, height: int, layout: str = "default", blank: bool = False
) -> Gst.Buffer:
    """A buffer holding pattern() (or only 0xee when `blank`) in every plane.

    `layout` "default" follows the caps; "padded" and "tight" follow meta_layout() and attach
    the GstVideoMeta that says so.
    """
    if layout == "default":
        strides, offsets, size = default_layout(format, width, height)
    else:
        strides, offsets, size = meta_layout(format, width, height, layout)
    data = bytearray(b"\xee" * size)  # padding bytes that must never show up in pixels
    shapes = expected_shapes(format, width, height)
    for plane, (shape, stride, offset) in enumerate(zip(shapes, strides, offsets, strict=True)):
        if blank:
            break
        rows = pattern(shape, plane).reshape(shape[0], -1)
        for row_index, row in enumerate(rows):
            start = offset + row_index * stride
            data[start : start + row.size] = row.tobytes()
    buffer = Gst.Buffer.new_wrapped(bytes(data))
    if layout != "default":
        video_format = GstVideo.VideoFormat.from_string(format)
        four = len(strides)
        GstVideo.buffer_add_video_meta_full(
            buffer,
            GstVideo.VideoFrameFlags.NONE,
            video_format,
            width,
            height,
            four,
            offsets + [0] * (4 - four),
            strides + [0] * (4 - four),
        )
    return buffer


def rgba_pixels(data: bytes, caps: str, buffer: Gst.Buffer | None = None) -> np.ndarray:
    """An appsink's RGBA frame as (height, width, 4), honouring the buffer's video meta."""
    structure = caps_structure(Gst.Caps.from_string(caps))
    assert structure.get_value("format") == "RGBA"
    width, height = structure.get_value("width"), structure.get_value("height")
    meta = GstVideo.buffer_get_video_meta(buffer) if buffer is not None else None
    stride, offset = (meta.stride[0], meta.offset[0]) if meta is not None else (width * 4, 0)
    return np.ndarray((height, width, 4), np.uint8, data, offset, (stride, 4, 1))

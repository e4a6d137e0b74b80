"""Frames as numpy views: reading and writing video buffers with their real strides.

`frame(buffer, in_meta, writable=False)` is the helper for custom libraries. It maps the buffer
and yields zero-copy numpy views laid out as in_meta describes them (format, width, height, and
per plane stride and offset, taken from the buffer's GstVideoMeta when it has one):

    packed   RGBA RGBx BGRA BGRx  one uint8 array (height, width, 4)
             RGB BGR              one uint8 array (height, width, 3), rows may be padded
             GRAY8                one uint8 array (height, width)
    planar   I420                 a tuple (Y, U, V): Y (height, width), U and V (ch, cw)
             NV12                 a tuple (Y, UV): Y (height, width), UV (ch, cw, 2)

where ch = ceil(height / 2) and cw = ceil(width / 2). The buffer is unmapped when the block
ends, and the views yielded are made read-only (writing through them raises ValueError); views
you derive yourself (`rgb[:, :, 0]`) are not. Every view keeps the memory it points into alive
(the map object is its numpy base). A view that outlives the element's library call is given
memory of its own then (frames/maps.py), so it never touches another frame: copy what you keep
(`np.array(view)`) inside the block.

`write_output` writes what `process()` returns as its out_buffer into the element's output
buffer: an array shaped like the view (packed formats), a tuple or list of per-plane arrays
(planar formats), a Gst.Buffer, or bytes of the frame size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from empycustom._native import (
    MAP_READ,
    MAP_WRITE,
    FrameViews,
    MappedBuffer,
    configure_frames,
    map_buffer,
    stream_copy,
)
from empycustom.frames.layout import FrameLayout
from empycustom.frames.maps import lent_calls
from empycustom.gst.runtime import Gst

# Channels per pixel of the packed formats; planar formats are described by _PLANAR.
_PACKED = {"RGBA": 4, "RGBx": 4, "BGRA": 4, "BGRx": 4, "RGB": 3, "BGR": 3, "GRAY8": 1}
# Plane names and channels per sample of each plane; planes after the first are subsampled 2x2.
_PLANAR = {"I420": (("Y", 1), ("U", 1), ("V", 1)), "NV12": (("Y", 1), ("UV", 2))}

FORMATS: tuple[str, ...] = (*_PACKED, *_PLANAR)
"""The video formats frame() and write_output() handle (caps `format` names)."""

_READ_WRITE = MAP_READ | MAP_WRITE
# Output planes this large are written with non-temporal stores: larger than the L2 cache of
# common x86 cores (720p RGBA, 1080p NV12 and up); smaller ones stay in cache for downstream.
STREAMED_COPY_BYTES = 2 * 1024 * 1024


class FrameError(ValueError):
    """A frame that cannot be viewed: unsupported format, unwritable buffer, too few bytes."""


class OutputFrameError(ValueError):
    """process() returned an output frame that does not fit the negotiated caps."""


def is_planar(format: str) -> bool:
    return format in _PLANAR


def plane_shapes(format: str, width: int, height: int) -> tuple[tuple[int, ...], ...]:
    """The numpy shape of each plane's view, e.g. ((480, 641, 3),) for RGB 641x480."""
    channels = _PACKED.get(format)
    if channels is not None:
        return ((height, width) if channels == 1 else (height, width, channels),)
    planes = _PLANAR.get(format)
    if planes is None:
        raise FrameError(f"format {format} has no numpy view; supported: {', '.join(FORMATS)}")
    chroma_height, chroma_width = (height + 1) // 2, (width + 1) // 2
    shapes = [(height, width)]
    for _name, samples in planes[1:]:
        shape = (chroma_height, chroma_width)
        shapes.append(shape if samples == 1 else (*shape, samples))
    return tuple(shapes)


def describe_layout(format: str, width: int, height: int) -> str:
    """What a frame of this format looks like to numpy, for error messages."""
    shapes = plane_shapes(format, width, height)
    if not is_planar(format):
        return f"uint8 {shapes[0]} for {format} {width}x{height}"
    planes = ", ".join(
        f"{name} {shape}" for (name, _), shape in zip(_PLANAR[format], shapes, strict=True)
    )
    return f"a tuple of {len(shapes)} uint8 arrays {planes} for {format} {width}x{height}"


def frame(buffer: Gst.Buffer, in_meta: Mapping[str, Any], writable: bool = False) -> FrameViews:
    """Map `buffer` and yield numpy views of its frame; unmap when the block ends.

    `in_meta` is the dict the element passed (or its `in_meta["frame"][0]`). Packed formats
    yield one array, I420 and NV12 a tuple of plane arrays (see the module text). With
    `writable=True` writes through the views change the frame in place; the buffer must be
    writable (the buffer process_ip() receives is). The yielded views become read-only when the
    block ends.
    """
    return FrameViews(buffer, in_meta, _READ_WRITE if writable else MAP_READ)


# (format, width, height, (stride, offset)...) -> per plane (shape, offset, strides): FrameViews
# makes the views of a layout seen before from these, and calls _make_views() for the others.
_plane_specs: dict[tuple[Any, ...], list[tuple[tuple[int, ...], int, tuple[int, ...]]]] = {}
_PLANE_SPECS_KEPT = 64


def _make_views(data: MappedBuffer, layout: tuple[Any, ...]) -> list[np.ndarray]:
    """plane_views() for `layout` (it says what is wrong with one), its specs cached."""
    format, width, height, *planes = layout
    strides, offsets = [stride for stride, _ in planes], [offset for _, offset in planes]
    views = plane_views(data, format, width, height, strides, offsets)
    if len(_plane_specs) >= _PLANE_SPECS_KEPT:
        _plane_specs.clear()
    try:
        _plane_specs[layout] = [(view.shape, offset, view.strides)
                                for view, offset in zip(views, offsets, strict=False)]  # fmt: skip
    except TypeError:  # unhashable values that plane_views still took
        pass
    return views


configure_frames(
    FrameError, Gst.Buffer, lent_calls, _plane_specs, _make_views, np.ndarray, np.dtype(np.uint8)
)


def _map(buffer: Gst.Buffer, flags: int) -> MappedBuffer:
    """Map with empycustom._native (gst-python's Buffer.map() costs about 6 us more)."""
    return _map_at(_address(buffer), flags)


def _address(buffer: Gst.Buffer) -> int:
    if not isinstance(buffer, Gst.Buffer):
        raise FrameError(f"expected a Gst.Buffer, got {type(buffer).__name__}")
    return hash(buffer)  # the GstBuffer's address


def _map_at(address: int, flags: int) -> MappedBuffer:
    try:
        mapped = map_buffer(address, flags)
    except ValueError:
        raise FrameError(
            f"the buffer could not be mapped for {'writing' if flags & MAP_WRITE else 'reading'}"
        ) from None
    if mapped is None:
        raise FrameError(
            "frame(writable=True) needs a writable buffer: write in process_ip() "
            "(in-place=true), or return a new frame from process()"
        )
    return mapped


def plane_views(
    data: Any,
    format: str,
    width: int,
    height: int,
    strides: Sequence[int],
    offsets: Sequence[int],
) -> list[np.ndarray]:
    """Numpy views of each plane of a frame held in `data` (any buffer-protocol object)."""
    shapes = plane_shapes(format, width, height)
    if len(strides) < len(shapes) or len(offsets) < len(shapes):
        raise FrameError(
            f"{format} has {len(shapes)} planes but the frame describes {len(strides)}"
        )
    views = []
    for shape, stride, offset in zip(shapes, strides, offsets, strict=False):
        pixel_strides = (shape[2], 1) if len(shape) == 3 else (1,)
        try:
            views.append(np.ndarray(shape, np.uint8, data, offset, (stride, *pixel_strides)))
        except (TypeError, ValueError):
            row = shape[1] * (shape[2] if len(shape) == 3 else 1)
            needed = offset + stride * (shape[0] - 1) + row
            raise FrameError(
                f"{format} {width}x{height} needs {needed} bytes for plane {len(views)} "
                f"(offset {offset}, stride {stride}) but the buffer holds {memoryview(data).nbytes}"
            ) from None
    return views


def write_output(out_frame: Any, outbuf: Gst.Buffer, layout: FrameLayout) -> None:
    """Write what process() returned as out_buffer into `outbuf`, honouring both layouts.

    `layout` is the negotiated (caps) layout; `outbuf` is laid out by its GstVideoMeta if it
    has one. Arrays are checked against the layout's shapes; one copy of the frame is made.
    """
    if isinstance(out_frame, Gst.Buffer):
        buffer_layout = layout.for_buffer(out_frame)
        holds, needed = _frame_name(buffer_layout), _frame_name(layout)
        if holds != needed:
            raise OutputFrameError(
                f"process() returned a Gst.Buffer holding {holds}; the caps need {needed}"
            )
        size = out_frame.get_size()
        # Without a video meta the buffer is the frame: a larger one would go downstream whole.
        if buffer_layout is layout and size > layout.size:
            raise OutputFrameError(
                f"process() returned a Gst.Buffer of {size} bytes; the caps need {layout.size} "
                f"bytes, {_expected_layout(layout)}"
            )
        try:
            copy_frame(out_frame, outbuf, layout)
        except FrameError as error:
            raise OutputFrameError(
                f"process() returned a Gst.Buffer that does not hold the frame: {error}; "
                f"expected {_expected_layout(layout)}"
            ) from None
        return
    if isinstance(out_frame, (bytes, bytearray, memoryview)):
        data = memoryview(out_frame).cast("B")
        if data.nbytes != layout.size:
            raise OutputFrameError(
                f"process() returned {data.nbytes} bytes; {_frame_name(layout)} needs {layout.size}"
            )
        _write_planes(_layout_views(data, layout), outbuf, layout)
        return
    _write_planes(_checked_planes(out_frame, layout), outbuf, layout)


def copy_frame(source: Gst.Buffer, destination: Gst.Buffer, layout: FrameLayout) -> None:
    """Put the frame of `source` into `destination`, each laid out by its own video meta.

    When both are laid out as the caps say, `destination` takes `source`'s memory blocks
    (shared and reference-counted, as GStreamer does for unchanged frames): no copy.
    """
    if (
        layout.for_buffer(source) == layout
        and layout.for_buffer(destination) == layout
        and source.get_size() >= layout.size
    ):
        destination.remove_all_memory()
        Gst.Buffer.copy_into(destination, source, Gst.BufferCopyFlags.MEMORY, 0, source.get_size())
        return
    mapped = _map(source, MAP_READ)
    try:
        _write_planes(_layout_views(mapped, layout.for_buffer(source)), destination, layout)
    finally:
        mapped.unmap()


def _frame_name(layout: FrameLayout) -> str:
    return f"{layout.format} {layout.width}x{layout.height}"


def _expected_layout(layout: FrameLayout) -> str:
    return describe_layout(layout.format, layout.width, layout.height)


def _layout_views(data: Any, layout: FrameLayout) -> list[np.ndarray]:
    return plane_views(
        data, layout.format, layout.width, layout.height, layout.strides, layout.offsets
    )


def _write_planes(planes: Sequence[np.ndarray], outbuf: Gst.Buffer, layout: FrameLayout) -> None:
    mapped = _map(outbuf, MAP_WRITE)
    try:
        for target, plane in zip(
            _layout_views(mapped, layout.for_buffer(outbuf)), planes, strict=True
        ):
            _copy_plane(target, plane)
    finally:
        mapped.unmap()


def _copy_plane(target: np.ndarray, plane: np.ndarray) -> None:
    """np.copyto, streamed past the cache for large contiguous planes (see _native.c)."""
    if (
        target.nbytes >= STREAMED_COPY_BYTES
        and target.flags.c_contiguous
        and plane.flags.c_contiguous
        and plane.dtype == np.uint8
        and plane.shape == target.shape
    ):
        stream_copy(target, plane)
    else:
        np.copyto(target, plane)


def _checked_planes(out_frame: Any, layout: FrameLayout) -> Sequence[np.ndarray]:
    """The planes of an array (packed) or tuple/list of arrays (planar) matching `layout`."""
    shapes = plane_shapes(layout.format, layout.width, layout.height)
    planar = is_planar(layout.format)
    planes = out_frame if planar and isinstance(out_frame, (tuple, list)) else (out_frame,)
    fits = len(planes) == len(shapes) and all(
        isinstance(plane, np.ndarray) and plane.dtype == np.uint8 and plane.shape == shape
        for plane, shape in zip(planes, shapes, strict=False)
    )
    if not fits:
        expected = _expected_layout(layout)
        raise OutputFrameError(
            f"process() returned {_describe_value(out_frame)} as out_buffer; expected {expected} "
            "(or a Gst.Buffer, bytes of the frame size, or None to drop the frame)"
        )
    return planes


def _describe_value(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a numpy array {value.dtype} {value.shape}"
    if isinstance(value, (tuple, list)):
        items = ", ".join(_describe_value(item) for item in value)
        return f"a {type(value).__name__} of {len(value)} [{items}]"
    return f"a {type(value).__name__}"

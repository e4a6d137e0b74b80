"""A new empycustom library: fill in process_ip() (or process()) below.

The `empycustom` element imports this file (property `custom-lib`) and calls:

- `start(options)` once when the pipeline starts: load models, open files. Optional.
- `process_ip(io_buffer, in_meta, options, events)` for every processed buffer when
  `in-place=true`: read (or draw on) the frame in place and return the out_meta.
- `process(in_buffer, in_meta, options, events)` instead when `in-place=false`: return
  `(out_buffer, out_meta)`; `out_buffer` is the frame to send on (`in_buffer` itself, a new
  `Gst.Buffer`, a numpy array or bytes of the same size) or None to drop the frame.
- `stop(options)` once when the pipeline stops: free what garbage collection cannot. Optional.

`options` is the `options` property parsed into a dict; `events` holds what the `events`
property delivered for this buffer (usually empty).

`in_meta` describes the frame: `in_meta["frame"][0]` holds `frame_num`, `buf_pts`,
`timestamp`, `format`, `width`, `height`, `planes` (stride and offset of each plane) and
`object`, the list of detected objects (`class_id`, `obj_label`, `confidence`, `rect_params`
with `left`, `top`, `width`, `height`).

out_meta is one result per object, in order; one more result after the objects becomes the
frame's result. Results are dicts (`{}` means "nothing for this object"); return them as a
list, or as the JSON text of that list; `''` or `[]` means nothing at all. The element merges
result i into object i under the key "emcustom".

Try it: `empycustom check new_lib.py --in-place`, then
`gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,format=RGBA !
empycustom custom-lib=new_lib.py in-place=true silent=false ! fakesink`.
"""

from __future__ import annotations

from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

import empycustom  # noqa: E402


def start(options: dict[str, Any]) -> None:
    """Called once when the element starts. Insert set-up that must happen once here."""


def stop(options: dict[str, Any]) -> None:
    """Called once when the element stops. Release what start() acquired here."""


def process_ip(
    io_buffer: Gst.Buffer, in_meta: dict[str, Any], options: dict[str, Any], events: dict[str, Any]
) -> list[dict[str, Any]]:
    """Process one frame in place; return one result per object, then the frame's result."""
    frame = in_meta["frame"][0]
    results: list[dict[str, Any]] = []
    # empycustom.frame() maps the buffer and yields numpy views of the pixels with the real
    # strides: (height, width, channels) for packed RGB, (Y, U, V) or (Y, UV) for I420/NV12.
    # The views are unmapped when the block ends. writable=True lets you draw on the frame.
    with empycustom.frame(io_buffer, in_meta) as view:
        for _obj in frame["object"]:
            # Insert your per-object code here (the object's box is _obj["rect_params"]).
            results.append({})
        # Insert your per-frame code here.
        pixels = view[0] if isinstance(view, tuple) else view
        results.append({"test_int": 10, "height": pixels.shape[0], "width": pixels.shape[1]})
    return results


def process(
    in_buffer: Gst.Buffer, in_meta: dict[str, Any], options: dict[str, Any], events: dict[str, Any]
) -> tuple[Gst.Buffer | None, list[dict[str, Any]]]:
    """Process one frame into a new one; here the input frame is passed on unchanged.

    Returning None as the output buffer drops the frame.
    """
    return in_buffer, process_ip(in_buffer, in_meta, options, events)

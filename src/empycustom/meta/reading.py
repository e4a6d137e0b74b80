"""What the element reads of a buffer before a library call, in one C call.

The frame's in_meta (`inmeta`), its objects (`objects`: ROI metas, then analytics entries) and
the results upstream elements wrote (`chain`) used to take three calls through Python wrappers;
`_native.begin_frame` reads them together and the rare cases (a buffer laid out by its own
GstVideoMeta, an upstream merged meta) go on in Python as before.
"""

from __future__ import annotations

from typing import Any

from empycustom import _native
from empycustom.frames.layout import FrameLayout
from empycustom.gst.runtime import Gst
from empycustom.meta.chain import carry_upstream
from empycustom.meta.inmeta import video_meta_in_meta
from empycustom.meta.objects import ANALYTICS, add_analytics_objects
from empycustom.meta.outmeta import from_json


def read_frame(
    buffer: Gst.Buffer,
    downstream: Gst.Buffer,
    frame_num: int,
    layout: FrameLayout,
    template: dict[str, Any],
    label_ids: dict[str, int],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[int | None], bool]:
    """(in_meta, objects, rois, carried) of `buffer` (of caps `layout`, `template` being
    `inmeta.in_meta_template(layout)`), its objects read from `downstream`, the buffer that goes
    on (the same one in place): as `objects.read_objects(downstream)`, then
    `inmeta.buffer_in_meta(buffer)` holding those objects, then `chain.carry_from_buffer()`,
    whose result is `carried`."""
    in_meta, objects, rois, upstream = _native.begin_frame(
        hash(buffer), hash(downstream), frame_num, template, label_ids, from_json
    )
    if ANALYTICS:
        add_analytics_objects(downstream, objects, rois, label_ids)
    if in_meta is None:  # laid out by its GstVideoMeta
        in_meta = video_meta_in_meta(buffer, frame_num, layout, objects)
    carried = upstream is not None and carry_upstream(in_meta, from_json(upstream))
    return in_meta, objects, rois, carried

"""Objects a library creates or removes: `empycustom.add_object()` and `remove_object()`.

While a library function runs, the element keeps its in_meta "open": the buffer going
downstream (writable) and the address of each object's ROI meta, in the order of in_meta's
object list. Each call changes that buffer before it returns, so every element downstream sees
real ROI metas (and no more of the removed ones).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

from empycustom import _native
from empycustom.gst import roi as roi_metas
from empycustom.gst.runtime import Gst
from empycustom.meta import analytics
from empycustom.meta.objects import DETECTION_PARAM, UNKNOWN_CLASS_ID, UNKNOWN_CONFIDENCE

MAX_COORDINATE = 2**32 - 1  # ROI boxes are unsigned 32-bit
MAX_INT32 = 2**31 - 1
NO_ID = 0  # GStreamer's default ROI id and parent_id: no id, no parent


# In a worker process, the ROI meta of an object add_object() created: the element writes the
# real one when the frame comes back (apply_edits).
RECORDED = -1


class _OpenFrame(NamedTuple):
    in_meta: dict[str, Any]
    buffer: Gst.Buffer | None
    rois: list[int | None]
    label_ids: dict[str, int]
    edits: list[tuple[Any, ...]] | None = None  # recording (a worker process): no buffer


# id(in_meta) -> (in_meta, buffer, rois, label_ids[, edits]): a plain tuple, made per buffer.
_open_frames: dict[int, tuple[Any, ...]] = {}


def open_frame(
    in_meta: dict[str, Any],
    buffer: Gst.Buffer,
    rois: list[int | None],
    label_ids: dict[str, int],
    batch: bool = False,
) -> None:
    """Let add_object()/remove_object() change `buffer` through `in_meta` until close_frame().

    `rois` holds the ROI meta address of each in_meta object (None: no ROI meta) and is kept up
    to date, so the element writes each result onto the right ROI afterwards. `batch`: the
    frame's entry, `in_meta["frame"][0]`, which process_batch() gets in its in_meta's "frame"
    list, stands for in_meta too.
    """
    open_one_frame(in_meta, buffer, rois, label_ids)
    _open_for_the_entry_too(in_meta, batch)


# open_frame() and close_frame() of one frame (not a batch), one C call each: the element's
# per-buffer pair.
open_one_frame = partial(_native.open_frame, _open_frames)
close_one_frame = partial(_native.close_frame, _open_frames)


def record_edits(
    in_meta: dict[str, Any], rois: list[int | None], label_ids: dict[str, int], batch: bool
) -> list[tuple[Any, ...]]:
    """In a worker process, where the buffer's metas are not: let add_object()/remove_object()
    work on in_meta until close_frame(), and return the list in which what they would change on
    the buffer is recorded, in order, for `apply_edits` in the element. `rois`: the element's
    (only whether each object has a ROI meta matters here); `batch` as for open_frame()."""
    edits: list[tuple[Any, ...]] = []
    _open_frames[id(in_meta)] = (in_meta, None, list(rois), label_ids, edits)
    _open_for_the_entry_too(in_meta, batch)
    return edits


def _open_for_the_entry_too(in_meta: dict[str, Any], batch: bool) -> None:
    """In a batch, the frame's entry `in_meta["frame"][0]` (what process_batch() is given)
    finds the open frame of `in_meta` too."""
    if batch:
        _open_frames[id(in_meta["frame"][0])] = _open_frames[id(in_meta)]


def apply_edits(
    buffer: Gst.Buffer,
    objects: list[Any],
    rois: list[int | None],
    edits: list[tuple[Any, ...]],
    edited_objects: list[Any],
) -> None:
    """In the element: make on `buffer` the changes `record_edits` recorded in a worker process,
    in order, keeping `rois` in step; `objects` (in_meta's list) becomes the worker's
    `edited_objects`."""
    for edit in edits:
        kind, index = edit[0], edit[1]
        if kind == "add":
            rois.extend([None] * (index - len(rois)))  # objects the library appended by hand
            rois.append(write_object_metas(buffer, edit[2]))
        elif kind == "id":
            roi_metas.set_roi_id(rois[index], edit[2])
        else:  # "remove"
            _remove_metas(buffer, rois, index, edit[2])
    objects[:] = edited_objects


def close_frame(in_meta: dict[str, Any], batch: bool = False) -> None:
    close_one_frame(in_meta)
    if batch:
        _open_frames.pop(id(in_meta["frame"][0]), None)


def add_object(
    in_meta: dict[str, Any],
    label: str,
    box: Sequence[float],
    *,
    confidence: float | None = None,
    class_id: int | None = None,
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Add an object to the frame being processed and return it.

    `box` is (left, top, width, height) in pixels. The object becomes a ROI meta of type
    `label` on the buffer going downstream (with a "detection" param holding `class_id` and
    `confidence` when given) and the last object of in_meta's object list, so the library's
    result list covers it. It gets an object_id no other object of the frame has; `parent` (an
    object of this frame) becomes its parent_id. ValueError for bad arguments.
    """
    frame = _opened(in_meta, "add_object")
    label = _label(label)
    left, top, width, height = _box(box)
    confidence = _number(confidence, "confidence")
    class_id = _class_id(class_id)
    objects = frame.in_meta["frame"][0]["object"]
    rois = frame.rois
    rois.extend([None] * (len(objects) - len(rois)))  # objects the library appended by hand
    parent_id = NO_ID if parent is None else _parent_id(frame, objects, parent)
    detection: dict[str, Any] = {}
    if class_id is not None:
        detection["label_id"] = class_id
    if confidence is not None:
        detection["confidence"] = confidence
    obj = {
        "object_id": _new_id(objects),
        "parent_id": parent_id,
        "class_id": class_id if class_id is not None
        else frame.label_ids.get(label, UNKNOWN_CLASS_ID),
        "obj_label": label,
        "confidence": confidence if confidence is not None else UNKNOWN_CONFIDENCE,
        "rect_params": {"left": left, "top": top, "width": width, "height": height},
        "params": {DETECTION_PARAM: detection} if detection else {},
    }  # fmt: skip
    if frame.edits is None:
        rois.append(write_object_metas(frame.buffer, obj))
    else:
        frame.edits.append(("add", len(objects), obj))
        rois.append(RECORDED)
    objects.append(obj)
    return obj


def remove_object(in_meta: dict[str, Any], obj: dict[str, Any]) -> None:
    """Remove an object of the frame being processed: from in_meta's object list and, with its
    ROI meta, from the buffer going downstream. ValueError if it is not one of this frame."""
    frame = _opened(in_meta, "remove_object")
    objects = frame.in_meta["frame"][0]["object"]
    index = _index(objects, obj)
    if index is None:
        raise ValueError(
            "remove_object(): obj is not an object of this in_meta's frame (pass one of "
            'in_meta["frame"][0]["object"] or what add_object() returned)'
        )
    if frame.edits is None:
        _remove_metas(frame.buffer, frame.rois, index, obj)
    else:
        frame.edits.append(("remove", index, obj))
        if index < len(frame.rois):
            del frame.rois[index]
    del objects[index]


def _remove_metas(buffer: Gst.Buffer, rois: list[int | None], index: int, obj: Any) -> None:
    roi = rois[index] if index < len(rois) else None
    if roi is not None:
        roi_metas.remove_meta(_writable(buffer), roi)
    if index < len(rois):
        del rois[index]
    analytics.remove_object(buffer, obj)  # its entry, where GStreamer has GstAnalytics


def write_object_metas(buffer: Gst.Buffer, obj: dict[str, Any]) -> int:
    """Write a created object's metas on the buffer; returns its ROI meta's address.

    The one place that writes them: a ROI meta and, where GStreamer has GstAnalytics (>= 1.24),
    an object-detection entry of the analytics relation meta, so that analytics readers such as
    `objectdetectionoverlay` see it too.
    """
    detection = obj["params"].get(DETECTION_PARAM)
    params = []
    if detection:
        fields = [DETECTION_PARAM]
        if "label_id" in detection:
            fields.append(f"label_id=(int){detection['label_id']}")
        if "confidence" in detection:
            fields.append(f"confidence=(double){detection['confidence']!r}")
        params.append(", ".join(fields))
    rect = obj["rect_params"]
    box = (rect["left"], rect["top"], rect["width"], rect["height"])
    roi = roi_metas.add_roi(
        _writable(buffer), obj["obj_label"], box, obj["object_id"], obj["parent_id"], params
    )
    analytics.write_object(buffer, obj)
    return roi


def _opened(in_meta: Any, function: str) -> _OpenFrame:
    frame = _open_frames.get(id(in_meta))
    if frame is None or (frame[0] is not in_meta and frame[0]["frame"][0] is not in_meta):
        raise ValueError(
            f"{function}() needs the in_meta of the frame being processed: call it from "
            "process_ip()/process() with the in_meta they were given (in process_batch(), "
            'with the frame\'s entry in_meta["frame"][i]), before they return'
        )
    return _OpenFrame(*frame)


def _writable(buffer: Gst.Buffer) -> int:
    address = hash(buffer)
    if not roi_metas.is_writable(address):
        raise ValueError("the buffer going downstream is not writable")
    return address


def _label(label: Any) -> str:
    if not isinstance(label, str) or not label or "\0" in label:
        raise ValueError(f"add_object(): label must be a non-empty str; got {label!r}")
    try:
        label.encode()
    except UnicodeEncodeError:
        raise ValueError(f"add_object(): label {label!r} is not valid text") from None
    return label


def _box(box: Any) -> tuple[int, int, int, int]:
    """A list, tuple or numpy array of 4 numbers, rounded to whole pixels."""
    try:
        if isinstance(box, (str, bytes, dict)):
            raise TypeError
        values = list(box)
    except TypeError:
        raise ValueError(
            f"add_object(): box must be (left, top, width, height); got {box!r}"
        ) from None
    if len(values) != 4:
        raise ValueError(
            f"add_object(): box must be 4 numbers (left, top, width, height); got {len(values)}"
        )
    names = ("left", "top", "width", "height")
    rounded = []
    for name, value in zip(names, values, strict=True):
        number = _number(value, f"box {name}")
        if number < 0:
            what = "size" if name in ("width", "height") else "position"
            raise ValueError(
                f"add_object(): box {name} is {value!r}: a negative {what}; ROI boxes are "
                "pixels from the frame's top-left corner (clip the box to the frame)"
            )
        if number > MAX_COORDINATE:
            raise ValueError(f"add_object(): box {name} {value!r} is too large")
        rounded.append(round(number))
    return tuple(rounded)  # type: ignore[return-value]


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"add_object(): {name} must be a number; got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"add_object(): {name} must be finite; got {value!r}")
    return number


def _class_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"add_object(): class_id must be an int; got {value!r}")
    if not -1 <= int(value) <= MAX_INT32:
        raise ValueError(f"add_object(): class_id must be -1 or more; got {value!r}")
    return int(value)


def _index(objects: list[Any], obj: Any) -> int | None:
    for index, candidate in enumerate(objects):
        if candidate is obj:
            return index
    return None


def _new_id(objects: list[Any]) -> int:
    ids = [o.get("object_id") for o in objects if isinstance(o, dict)]
    return max([NO_ID, *(i for i in ids if isinstance(i, int))]) + 1


def _parent_id(frame: _OpenFrame, objects: list[Any], parent: Any) -> int:
    """The parent's object_id; one it shares with another object (detectors such as facedetect
    give every ROI id 0), or 0, which means "no parent", is first replaced by a new one."""
    index = _index(objects, parent)
    if index is None:
        raise ValueError(
            "add_object(): parent is not an object of this in_meta's frame (pass one of "
            'in_meta["frame"][0]["object"] or what add_object() returned)'
        )
    parent_id = parent.get("object_id")
    shared = sum(1 for o in objects if isinstance(o, dict) and o.get("object_id") == parent_id)
    if isinstance(parent_id, int) and parent_id != NO_ID and shared == 1:
        return parent_id
    if frame.rois[index] is None:
        raise ValueError("add_object(): parent has no ROI meta to give a unique id to")
    parent_id = _new_id(objects)
    if frame.edits is None:
        _writable(frame.buffer)
        roi_metas.set_roi_id(frame.rois[index], parent_id)
    else:
        frame.edits.append(("id", index, parent_id))
    parent["object_id"] = parent_id
    return parent_id

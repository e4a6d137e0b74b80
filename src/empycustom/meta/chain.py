"""Several empycustom elements in a row behave as one: the rules, as plain functions.

Each element shows the results written upstream in its in_meta the reference's way (each
object's "emcustom", the frame's "emcustom") and merges its own into them key by key. Per-object
results travel on the ROI metas as "emcustom" params; GStreamer 1.22 drops ROI params when a
`videoconvert` changes the format or a `videoscale` the size, so they are also taken from the
upstream merged meta (the custom meta, which survives), matched to the objects read now.
"""

from __future__ import annotations

from typing import Any

from empycustom import _native
from empycustom.meta.merge import EVENTS_KEY, RESULT_KEY
from empycustom.meta.objects import DETECTION_PARAM, UNKNOWN_CLASS_ID, UNKNOWN_CONFIDENCE
from empycustom.meta.outmeta import from_json

# How far a box may be from the one upstream recorded, scaled to this frame, and still be it:
# converters round scaled boxes: a few pixels, or 1% of the value.
BOX_TOLERANCE_PX = 2
BOX_TOLERANCE_FRACTION = 0.01


def carry_from_buffer(in_meta: dict[str, Any], buffer: Any) -> bool:
    """`carry_upstream` with the merged meta the elements upstream left on `buffer`; a buffer
    without one (no empycustom upstream) costs one look."""
    text = _native.read_meta_json(hash(buffer))
    return False if text is None else carry_upstream(in_meta, from_json(text))


def carry_upstream(in_meta: dict[str, Any], upstream: dict[str, Any] | None) -> bool:
    """Show in in_meta (in place) every result written upstream, as `upstream`, the merged
    meta of the empycustom elements upstream (None: there are none), tells.

    An object's "emcustom" comes from its ROI's "emcustom" param, else from the object of the
    upstream merged meta `upstream` it matches (see `match_objects`), which also gives it the
    class_id and confidence upstream knew when no "detection" param says them any more. The
    frame's "emcustom" and "events" come from `upstream`.

    Returns whether an object got a result: if not, each object's merged result is the
    library's own, and `results_to_write` need not be asked.
    """
    if upstream is None:
        return False
    frame = in_meta["frame"][0]
    objects = frame["object"]
    carried = False
    for obj in objects:
        param = obj["params"].get(RESULT_KEY)
        if param is not None:
            obj[RESULT_KEY] = dict(param) if type(param) is dict else param
            carried = True
    upstream_frame = _first_frame(upstream)
    if upstream_frame is None:
        return carried
    for key in (RESULT_KEY, EVENTS_KEY):
        if key in upstream_frame:
            frame[key] = upstream_frame[key]
    upstream_objects = upstream_frame.get("object")
    if not objects or not isinstance(upstream_objects, list) or not upstream_objects:
        return carried
    scale = _scale(frame, upstream_frame)
    for obj, match in zip(objects, match_objects(objects, upstream_objects, scale), strict=True):
        if match is not None:
            _carry_object(obj, match)
    return True


def match_objects(
    objects: list[dict[str, Any]],
    upstream_objects: list[Any],
    scale: tuple[float, float] = (1.0, 1.0),
) -> list[dict[str, Any] | None]:
    """For each object, the upstream object it is, or None.

    The same objects in the same order (nothing added or removed between the elements) match
    one to one. Otherwise an object matches the first upstream object not matched yet with the
    same label, object_id and parent_id whose box, scaled by `scale` (this frame's size over
    upstream's), is within a few pixels of its own.
    """
    if len(objects) == len(upstream_objects) and all(
        _identity(obj) == _identity(other)
        for obj, other in zip(objects, upstream_objects, strict=True)
    ):
        return list(upstream_objects)
    candidates: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for other in upstream_objects:
        if isinstance(other, dict):
            candidates.setdefault(_identity(other), []).append(other)
    matches: list[dict[str, Any] | None] = []
    for obj in objects:
        found = None
        same = candidates.get(_identity(obj), [])
        for index, other in enumerate(same):
            if _same_box(obj.get("rect_params"), other.get("rect_params"), scale):
                found = same.pop(index)
                break
        matches.append(found)
    return matches


def results_to_write(objects: list[dict[str, Any]]) -> list[Any]:
    """What to put on each object's ROI: its merged result, or `{}` (nothing to write) when the
    ROI's "emcustom" param holds it already or it has none."""
    writes: list[Any] = []
    for obj in objects:
        result = obj.get(RESULT_KEY)
        if result is None or result == obj["params"].get(RESULT_KEY):
            writes.append({})
        else:
            writes.append(result)
    return writes


def _first_frame(meta: Any) -> dict[str, Any] | None:
    frames = meta.get("frame") if isinstance(meta, dict) else None
    if isinstance(frames, list) and frames and isinstance(frames[0], dict):
        return frames[0]
    return None


def _identity(obj: Any) -> tuple[Any, Any, Any]:
    if not isinstance(obj, dict):
        return (None, None, None)
    return (obj.get("obj_label"), obj.get("object_id"), obj.get("parent_id"))


def _scale(frame: dict[str, Any], upstream_frame: dict[str, Any]) -> tuple[float, float]:
    width, height = upstream_frame.get("width"), upstream_frame.get("height")
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        return (1.0, 1.0)
    return (frame["width"] / width, frame["height"] / height)


def _same_box(rect: Any, upstream_rect: Any, scale: tuple[float, float]) -> bool:
    if not isinstance(rect, dict) or not isinstance(upstream_rect, dict):
        return False
    for key, factor in (("left", scale[0]), ("top", scale[1]), ("width", scale[0]),
                        ("height", scale[1])):  # fmt: skip
        value, upstream_value = rect.get(key), upstream_rect.get(key)
        if not isinstance(value, (int, float)) or not isinstance(upstream_value, (int, float)):
            return False
        tolerance = max(BOX_TOLERANCE_PX, BOX_TOLERANCE_FRACTION * value)
        if abs(value - upstream_value * factor) > tolerance:
            return False
    return True


def _carry_object(obj: dict[str, Any], upstream: dict[str, Any]) -> None:
    if RESULT_KEY not in obj and RESULT_KEY in upstream:
        obj[RESULT_KEY] = upstream[RESULT_KEY]
    if DETECTION_PARAM in obj["params"]:
        return
    class_id, confidence = upstream.get("class_id"), upstream.get("confidence")
    if obj.get("class_id") == UNKNOWN_CLASS_ID and isinstance(class_id, int):
        obj["class_id"] = class_id
    if obj.get("confidence") == UNKNOWN_CONFIDENCE and isinstance(confidence, (int, float)):
        obj["confidence"] = confidence

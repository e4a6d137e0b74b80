"""GstAnalytics (GStreamer >= 1.24): object-detection entries in and out.

In: every object-detection entry (`GstAnalyticsODMtd`) of a buffer's analytics relation meta is an
in_meta object in the layout of ROI objects. What is related to it comes along under `params`:
its classifications (`ClsMtd`) and its tracking (`TrackingMtd`). An entry that describes the
same object as a ROI meta (same label and box: DL Streamer writes both) completes that ROI's
object instead of adding a second one.

Out: an object with a result gets an entry where it has none (ROI objects, objects created by a
library), so analytics readers such as `objectdetectionoverlay` see it; a result naming a class,
`{"label": str, "confidence": number}`, is added as a classification related to the entry. A
removed object's entry goes too: GstAnalytics cannot delete one, so the relation meta is built
again without it (and without the classifications and tracking only it had).

Reading and writing go through the GI bindings; the rules between the two (which entry is which
object, what a result says) are plain functions on plain data.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from empycustom.gst import roi as gst_metas
from empycustom.gst.clib import gst
from empycustom.gst.runtime import GLib

try:
    import gi

    gi.require_version("GstAnalytics", "1.0")
    from gi.repository import GstAnalytics
except (ImportError, ValueError) as _missing:
    GstAnalytics = None
    _unavailable: str | None = (
        "analytics relation metas are neither read nor written: GstAnalytics needs "
        f"GStreamer >= 1.24 ({_missing})"
    )
else:
    _unavailable = None

CLASSIFICATION_PARAM = "classification"
TRACKING_PARAM = "tracking"
NO_PARENT = -1
PART_OF = "IS_PART_OF"
UNKNOWN_CLASS_ID = -1

_quark_strings: dict[int, str] = {}


def unavailable() -> str | None:
    """Why analytics relation metas are not read or written, or None when they are."""
    return _unavailable


# Plain rules


def names_a_class(result: Any) -> tuple[str, float] | None:
    """(label, confidence) when a result names a class: `{"label": str, "confidence": number}`."""
    if not isinstance(result, Mapping):
        return None
    label, confidence = result.get("label"), result.get("confidence")
    if not isinstance(label, str) or not label:
        return None
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return None
    return label, float(confidence)


def _box(obj: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    rect = obj["rect_params"]
    return rect["left"], rect["top"], rect["width"], rect["height"]


def pair_entries(
    objects: Sequence[Mapping[str, Any]], entries: Sequence[Mapping[str, Any]]
) -> list[int | None]:
    """For each object, the index of the entry that describes it (same label and box), or None.

    Objects and entries sharing label and box pair one to one, in order.
    """
    waiting: dict[tuple[Any, ...], list[int]] = {}
    for index, entry in enumerate(entries):
        waiting.setdefault((entry["obj_label"], *_box(entry)), []).append(index)
    pairs: list[int | None] = []
    for obj in objects:
        candidates = waiting.get((obj["obj_label"], *_box(obj)))
        pairs.append(candidates.pop(0) if candidates else None)
    return pairs


def merge_entries(
    objects: list[dict[str, Any]], entries: Sequence[dict[str, Any]], label_ids: dict[str, int]
) -> None:
    """Add the analytics entries to the ROI objects (in place).

    An entry with the label and box of a ROI object completes that object (its classifications
    and tracking go under `params`); every other entry is appended as an object.
    """
    described = set()
    for obj, index in zip(objects, pair_entries(objects, entries), strict=True):
        if index is not None:
            described.add(index)
            for name, value in _related_params(entries[index]).items():
                obj["params"].setdefault(name, value)
    objects.extend(
        _entry_object(entry, label_ids)
        for index, entry in enumerate(entries)
        if index not in described
    )


def _related_params(entry: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if entry["classification"]:
        params[CLASSIFICATION_PARAM] = entry["classification"]
    if entry["tracking"] is not None:
        params[TRACKING_PARAM] = entry["tracking"]
    return params


def _entry_object(entry: Mapping[str, Any], label_ids: dict[str, int]) -> dict[str, Any]:
    label = entry["obj_label"]
    class_id = entry["class_id"]
    if class_id == UNKNOWN_CLASS_ID:
        class_id = label_ids.get(label, UNKNOWN_CLASS_ID)
    return {
        "object_id": entry["id"],
        "parent_id": entry["parent_id"],
        "class_id": class_id,
        "obj_label": label,
        "confidence": entry["confidence"],
        "rect_params": dict(entry["rect_params"]),
        "params": _related_params(entry),
    }


# GI: reading


def _quark_string(quark: int) -> str:
    text = _quark_strings.get(quark)
    if text is None:
        text = GLib.quark_to_string(quark) if quark else ""
        _quark_strings[quark] = text
    return text


def read_entries(buffer: Any) -> list[dict[str, Any]]:
    """The object-detection entries of a buffer's relation meta as plain dicts, in id order.

    Each: id, obj_label, confidence, rect_params, parent_id (an entry it IS_PART_OF, else -1),
    class_id (the index of its label in a related classification, DL Streamer's convention;
    else -1), classification (per related ClsMtd its most confident class: label, confidence,
    class_id = index in the ClsMtd) and tracking (tracking_id, first_seen, last_seen, lost; or
    None).
    """
    relation = GstAnalytics.buffer_get_analytics_relation_meta(buffer)
    if relation is None:
        return []
    detections, classifications, trackings = _mtds(relation, related=True)
    entries = []
    for detection in detections:
        entry = _entry(detection)
        if entry is None:
            continue
        for other in detections:
            if other.id != detection.id and _related(relation, detection.id, other.id, PART_OF):
                entry["parent_id"] = other.id
                break
        label_quark = detection.get_obj_type()
        for classification in classifications:
            if _related(relation, detection.id, classification.id):
                entry["classification"].append(_top_class(classification))
                if entry["class_id"] == UNKNOWN_CLASS_ID and label_quark:
                    index = classification.get_index_by_quark(label_quark)
                    if index >= 0:
                        entry["class_id"] = index
        for tracking in trackings:
            if entry["tracking"] is None and _related(relation, detection.id, tracking.id):
                ok, tracking_id, first_seen, last_seen, lost = tracking.get_info()
                if ok:
                    entry["tracking"] = {
                        "tracking_id": tracking_id,
                        "first_seen": first_seen,
                        "last_seen": last_seen,
                        "lost": bool(lost),
                    }
        entries.append(entry)
    return entries


def _mtds(relation: Any, related: bool) -> tuple[list[Any], list[Any], list[Any]]:
    """The relation meta's detections, and (when `related`) classifications and trackings."""
    od_type = GstAnalytics.od_mtd_get_mtd_type()
    cls_type = GstAnalytics.cls_mtd_get_mtd_type()
    tracking_type = GstAnalytics.tracking_mtd_get_mtd_type()
    detections: list[Any] = []
    classifications: list[Any] = []
    trackings: list[Any] = []
    for mtd_id in range(GstAnalytics.relation_get_length(relation)):
        found, mtd = relation.get_mtd(mtd_id, GstAnalytics.MTD_TYPE_ANY)
        if not found:
            continue
        kind = mtd.get_mtd_type()
        if kind == od_type:
            detections.append(relation.get_od_mtd(mtd_id)[1])
        elif not related:
            continue
        elif kind == cls_type:
            classifications.append(relation.get_cls_mtd(mtd_id)[1])
        elif kind == tracking_type:
            trackings.append(relation.get_tracking_mtd(mtd_id)[1])
    return detections, classifications, trackings


def _entry(detection: Any) -> dict[str, Any] | None:
    located, x, y, w, h, confidence = detection.get_location()
    if not located:
        return None
    return {
        "id": detection.id,
        "obj_label": _quark_string(detection.get_obj_type()),
        "confidence": float(confidence),
        "rect_params": {"left": x, "top": y, "width": w, "height": h},
        "parent_id": NO_PARENT,
        "class_id": UNKNOWN_CLASS_ID,
        "classification": [],
        "tracking": None,
    }


def _related(relation: Any, first: int, second: int, kind: str | None = None) -> bool:
    """Whether entry `first` has a relation (of that kind, else any) to `second`."""
    types = relation.get_relation(first, second)
    if kind is None:
        return bool(types)
    return bool(types & getattr(GstAnalytics.RelTypes, kind))


def _top_class(classification: Any) -> dict[str, Any]:
    best = max(range(classification.get_length()), key=classification.get_level, default=None)
    if best is None:
        return {"label": "", "confidence": 0.0, "class_id": UNKNOWN_CLASS_ID}
    return {
        "label": _quark_string(classification.get_quark(best)),
        "confidence": float(classification.get_level(best)),
        "class_id": best,
    }


def read_objects(buffer: Any, objects: list[dict[str, Any]], label_ids: dict[str, int]) -> None:
    """Add the buffer's analytics entries to its ROI objects (in place; see `merge_entries`)."""
    if _unavailable is None:
        merge_entries(objects, read_entries(buffer), label_ids)


# GI: writing


def _relation_meta(buffer: Any) -> Any:
    relation = GstAnalytics.buffer_get_analytics_relation_meta(buffer)
    if relation is None:
        relation = GstAnalytics.buffer_add_analytics_relation_meta(buffer)
    if relation is None:
        raise ValueError("the buffer is not writable: no analytics relation meta can be added")
    return relation


# GstAnalytics boxes are gint; ROI metas' are guint: a box beyond gint has no entry.
_MAX_GINT = 2**31 - 1


def _add_entry(relation: Any, obj: Mapping[str, Any]) -> int | None:
    """The id of a new object-detection entry for `obj`; None when its box does not fit."""
    left, top, width, height = (int(value) for value in _box(obj))
    if max(left, top, width, height) > _MAX_GINT:
        return None
    confidence = obj.get("confidence", 0.0)
    added, detection = relation.add_od_mtd(
        GLib.quark_from_string(str(obj["obj_label"])), left, top, width, height,
        float(confidence),
    )  # fmt: skip
    if not added:
        raise ValueError(f"no object-detection entry could be added for {obj['obj_label']!r}")
    return detection.id


def _add_classification(relation: Any, entry_id: int, result: Any) -> None:
    named = names_a_class(result)
    if named is None:
        return
    label, confidence = named
    added, classification = relation.add_one_cls_mtd(confidence, GLib.quark_from_string(label))
    if added:
        relation.set_relation(GstAnalytics.RelTypes.RELATE_TO, entry_id, classification.id)


def write_object(buffer: Any, obj: Mapping[str, Any], result: Any = None) -> int | None:
    """Write an in_meta object as a new object-detection entry of the buffer's relation meta
    (label, box, confidence), with a classification related to it when `result` names a class;
    returns the entry's id. The buffer must be writable. None where GStreamer has no
    GstAnalytics, and for a box beyond GstAnalytics' gint coordinates (its ROI meta has it)."""
    if _unavailable is not None:
        return None
    relation = _relation_meta(buffer)
    entry_id = _add_entry(relation, obj)
    if entry_id is not None:
        _add_classification(relation, entry_id, result)
    return entry_id


def write_results(
    buffer: Any, objects: Sequence[Mapping[str, Any]], results: Sequence[Any] | Any
) -> None:
    """Result i of object i (a library's own list of results) reaches analytics readers: the
    object's entry (found by label and box; added where it has none) gets a classification
    where the result names a class. `{}` and a dict for the frame write nothing."""
    if _unavailable is not None or type(results) is not list or not any(results):
        return
    relation = _relation_meta(buffer)
    entries = [entry for entry in map(_entry, _mtds(relation, related=False)[0]) if entry]
    pairs = pair_entries(objects, entries)
    for obj, result, index in zip(objects, results, pairs, strict=False):
        if not result:
            continue
        entry_id = _add_entry(relation, obj) if index is None else entries[index]["id"]
        if entry_id is not None:
            _add_classification(relation, entry_id, result)


# GI: removing. GstAnalytics has no call that deletes an entry, and PyGObject none that removes
# the relation meta from its buffer: the meta is found and removed through ctypes, then added
# again with every other entry, in order, and their relations.

gst.gst_buffer_get_meta.restype = ctypes.c_void_p
gst.gst_buffer_get_meta.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def _relation_meta_address(buffer: Any) -> int:
    library = ctypes.CDLL("libgstanalytics-1.0.so.0")  # loaded once already, by GstAnalytics
    library.gst_analytics_relation_meta_api_get_type.restype = ctypes.c_size_t
    api = library.gst_analytics_relation_meta_api_get_type()
    return gst.gst_buffer_get_meta(hash(buffer), api)


def remove_object(buffer: Any, obj: Mapping[str, Any]) -> bool:
    """Remove the entry describing obj (label and box) from the buffer's relation meta, with
    the classifications and tracking related to it alone. False where there is none, or the
    meta holds entries of other kinds (tensors, segmentation) that cannot be written again."""
    if _unavailable is not None:
        return False
    relation = GstAnalytics.buffer_get_analytics_relation_meta(buffer)
    if relation is None:
        return False
    known = {
        GstAnalytics.od_mtd_get_mtd_type(): relation.get_od_mtd,
        GstAnalytics.cls_mtd_get_mtd_type(): relation.get_cls_mtd,
        GstAnalytics.tracking_mtd_get_mtd_type(): relation.get_tracking_mtd,
    }
    mtds = []
    for mtd_id in range(GstAnalytics.relation_get_length(relation)):
        found, mtd = relation.get_mtd(mtd_id, GstAnalytics.MTD_TYPE_ANY)
        if found:
            kind = mtd.get_mtd_type()
            if kind not in known:
                return False
            mtds.append(known[kind](mtd_id)[1])
    detections = [mtd for mtd in mtds if isinstance(mtd, GstAnalytics.ODMtd)]
    entries = [entry for entry in map(_entry, detections) if entry]
    (index,) = pair_entries([obj], entries)
    if index is None:
        return False
    removed = entries[index]["id"]
    relations = {
        (first.id, second.id): types
        for first in mtds
        for second in mtds
        if first.id != second.id and (types := relation.get_relation(first.id, second.id))
    }
    drop = {removed} | {
        mtd.id
        for mtd in mtds
        if not isinstance(mtd, GstAnalytics.ODMtd)
        and {removed} == {b if a == mtd.id else a for a, b in relations if mtd.id in (a, b)}
    }
    copies = [_copy(mtd) for mtd in mtds if mtd.id not in drop]
    gst_metas.remove_meta(hash(buffer), _relation_meta_address(buffer))
    relation = _relation_meta(buffer)
    new_ids = {old_id: add(relation) for old_id, add in copies}
    for (first, second), types in relations.items():
        if first in new_ids and second in new_ids:
            relation.set_relation(types, new_ids[first], new_ids[second])
    return True


def _copy(mtd: Any) -> tuple[int, Callable[[Any], int]]:
    """(id, a function adding the same entry to a relation meta and returning its new id)."""
    if isinstance(mtd, GstAnalytics.ODMtd):
        quark = mtd.get_obj_type()
        if hasattr(mtd, "get_oriented_location"):  # 1.26: boxes may be rotated
            _, x, y, w, h, r, confidence = mtd.get_oriented_location()
            return mtd.id, lambda rm: rm.add_oriented_od_mtd(quark, x, y, w, h, r, confidence)[1].id
        _, x, y, w, h, confidence = mtd.get_location()
        return mtd.id, lambda rm: rm.add_od_mtd(quark, x, y, w, h, confidence)[1].id
    if isinstance(mtd, GstAnalytics.ClsMtd):
        count = mtd.get_length()
        levels = [mtd.get_level(i) for i in range(count)]
        quarks = [mtd.get_quark(i) for i in range(count)]
        return mtd.id, lambda rm: rm.add_cls_mtd(levels, quarks)[1].id
    _, tracking_id, first_seen, last_seen, lost = mtd.get_info()

    def add_tracking(rm: Any) -> int:
        tracking = rm.add_tracking_mtd(tracking_id, first_seen)[1]
        tracking.update_last_seen(last_seen)
        if lost:
            tracking.set_lost()
        return tracking.id

    return mtd.id, add_tracking

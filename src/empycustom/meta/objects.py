"""Detected objects on a buffer: region-of-interest metas in, per-object results out.

Every `GstVideoRegionOfInterestMeta` of a buffer, in order, becomes one in_meta object; each
object's result goes back onto its ROI meta as a param structure named "emcustom" holding the
result as JSON. The GI bindings only find ROI metas by id, and detectors such as `facedetect`
give every ROI id 0, so the metas are iterated, read and written in C (`empycustom._native`,
one call per buffer rather than several foreign calls per object).

On GStreamer >= 1.24 the object-detection entries of the analytics relation meta are read too;
they have no ROI meta to carry a result, so their results live in the merged JSON only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from empycustom import _native
from empycustom.gst.runtime import GLib
from empycustom.meta.outmeta import from_json, to_json

try:
    import gi

    gi.require_version("GstAnalytics", "1.0")
    from gi.repository import GstAnalytics
except (ImportError, ValueError) as _missing:
    GstAnalytics = None
    _analytics_unavailable: str | None = (
        f"analytics relation metas are not read: GstAnalytics needs GStreamer >= 1.24 ({_missing})"
    )
else:
    _analytics_unavailable = None

# The param an upstream detector (DL Streamer and others) puts its class and score in.
DETECTION_PARAM = _native.DETECTION_PARAM  # "detection"
RESULT_PARAM = _native.RESULT_PARAM  # "emcustom", as merge.RESULT_KEY
UNKNOWN_CLASS_ID = -1
UNKNOWN_CONFIDENCE = -1.0
_quark_strings: dict[int, str] = {}


def analytics_unavailable() -> str | None:
    """Why analytics relation metas are not read, or None when they are."""
    return _analytics_unavailable


def parse_labels(text: str | None) -> dict[str, int]:
    """The `labels` property, "face,person,car", as {label: class id}; the first index wins."""
    labels: dict[str, int] = {}
    if text:
        for index, label in enumerate(text.split(",")):
            label = label.strip()
            if label:
                labels.setdefault(label, index)
    return labels


def read_objects(
    buffer: Any, label_ids: dict[str, int]
) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The in_meta objects of a buffer, and for each the address of its ROI meta (or None).

    One object per ROI meta, in the order they were added, then one per object-detection entry
    of the analytics relation meta where GStreamer has it.
    """
    objects, rois = _native.read_rois(hash(buffer), label_ids, from_json)
    if _analytics_unavailable is None:
        analytics = _analytics_objects(buffer, label_ids)
        objects.extend(analytics)
        rois.extend([None] * len(analytics))
    return objects, rois


def write_results(rois: Sequence[int | None], results: Sequence[Any]) -> None:
    """Put result i on ROI meta i as param "emcustom" (json=...), replacing an older one.

    `{}` means "nothing for this object" and leaves the ROI as it is. The buffer holding the
    ROI metas must be writable.
    """
    count = min(len(rois), len(results))
    if count:  # one JSON text for all, split in C: no Python call per object
        _native.write_results(rois[:count], to_json(results[:count]))


def _quark_string(quark: int) -> str:
    text = GLib.quark_to_string(quark) if quark else ""
    _quark_strings[quark] = text
    return text


def _analytics_objects(buffer: Any, label_ids: dict[str, int]) -> list[dict[str, Any]]:
    """Object-detection entries of the analytics relation meta (GStreamer >= 1.24).

    Bindings that do not behave as expected switch the analytics path off with their reason
    (it cannot be tested on 1.22) instead of failing every buffer.
    """
    global _analytics_unavailable
    try:
        return _read_analytics(buffer, label_ids)
    except Exception as error:
        _analytics_unavailable = (
            f"analytics relation metas are not read: reading them failed with "
            f"{type(error).__name__}: {error}"
        )
        return []


def _read_analytics(buffer: Any, label_ids: dict[str, int]) -> list[dict[str, Any]]:
    relation = GstAnalytics.buffer_get_analytics_relation_meta(buffer)
    if relation is None:
        return []
    objects = []
    for index in range(GstAnalytics.relation_get_length(relation)):
        found, detection = relation.get_od_mtd(index)
        if not found:
            continue
        located, x, y, w, h, confidence = detection.get_location()
        if not located:
            continue
        label = _quark_string(detection.get_obj_type())
        objects.append(
            {
                "object_id": detection.id,
                "parent_id": -1,
                "class_id": label_ids.get(label, UNKNOWN_CLASS_ID),
                "obj_label": label,
                "confidence": float(confidence),
                "rect_params": {"left": x, "top": y, "width": w, "height": h},
                "params": {},
            }
        )
    return objects

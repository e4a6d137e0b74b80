"""Detected objects on a buffer: region-of-interest metas in, per-object results out.

Every `GstVideoRegionOfInterestMeta` of a buffer, in order, becomes one in_meta object; each
object's result goes back onto its ROI meta as a param structure named "emcustom" holding the
result as JSON. The GI bindings only find ROI metas by id, and detectors such as `facedetect`
give every ROI id 0, so the metas are iterated, read and written in C (`empycustom._native`,
one call per buffer rather than several foreign calls per object).

On GStreamer >= 1.24 the object-detection entries of the analytics relation meta are read too
(`empycustom.meta.analytics`): each one that does not describe a ROI object is one more object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from empycustom import _native
from empycustom.meta import analytics
from empycustom.meta.outmeta import from_json, to_json

# The param an upstream detector (DL Streamer and others) puts its class and score in.
DETECTION_PARAM = _native.DETECTION_PARAM  # "detection"
RESULT_PARAM = _native.RESULT_PARAM  # "emcustom", as merge.RESULT_KEY
UNKNOWN_CLASS_ID = -1
UNKNOWN_CONFIDENCE = -1.0


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
    if ANALYTICS:
        add_analytics_objects(buffer, objects, rois, label_ids)
    return objects, rois


ANALYTICS = analytics.unavailable() is None  # GstAnalytics is there (GStreamer >= 1.24)


def add_analytics_objects(
    buffer: Any, objects: list[dict[str, Any]], rois: list[int | None], label_ids: dict[str, int]
) -> None:
    """The objects of the analytics relation meta added to `objects` (in place; see
    read_objects), with no ROI meta (None in `rois`). A buffer without a relation meta costs
    one look in C."""
    if _native.has_analytics_meta(hash(buffer)):
        analytics.read_objects(buffer, objects, label_ids)
        rois.extend([None] * (len(objects) - len(rois)))


def write_results(rois: Sequence[int | None], results: Sequence[Any]) -> None:
    """Put result i on ROI meta i as param "emcustom" (json=...), replacing an older one.

    `{}` means "nothing for this object" and leaves the ROI as it is. The buffer holding the
    ROI metas must be writable.
    """
    count = min(len(rois), len(results))
    if count:  # one JSON text for all, split in C: no Python call per object
        _native.write_results(rois[:count], to_json(results[:count]))

"""Detected objects on a buffer: region-of-interest metas in, per-object results out.

Every `GstVideoRegionOfInterestMeta` of a buffer, in order, becomes one in_meta object; each
object's result goes back onto its ROI meta as a param structure named "emcustom" holding the
result as JSON. The GI bindings only find ROI metas by id, and detectors such as `facedetect`
give every ROI id 0, so the metas are iterated and read through ctypes.

On GStreamer >= 1.24 the object-detection entries of the analytics relation meta are read too;
they have no ROI meta to carry a result, so their results live in the merged JSON only.
"""

from __future__ import annotations

import ctypes
import json
import struct
from collections.abc import Sequence
from typing import Any

from empycustom._clib import declare, gst
from empycustom._gst import GLib
from empycustom.merge import RESULT_KEY
from empycustom.outmeta import to_json

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
DETECTION_PARAM = "detection"
RESULT_PARAM = RESULT_KEY
_RESULT_PARAM_C = RESULT_PARAM.encode()
_JSON_FIELD_C = b"json"
UNKNOWN_CLASS_ID = -1
UNKNOWN_CONFIDENCE = -1.0

_video = ctypes.CDLL("libgstvideo-1.0.so.0")
_glib = ctypes.CDLL("libglib-2.0.so.0")
_P = ctypes.c_void_p
declare(
    _video,
    {
        "gst_video_region_of_interest_meta_api_get_type": (ctypes.c_size_t, []),
        "gst_video_region_of_interest_meta_get_param": (_P, [_P, ctypes.c_char_p]),
        "gst_video_region_of_interest_meta_add_param": (None, [_P, _P]),
    },
)
declare(
    gst,
    {
        "gst_buffer_iterate_meta_filtered": (_P, [_P, ctypes.POINTER(_P), ctypes.c_size_t]),
        "gst_structure_get_name": (ctypes.c_char_p, [_P]),
        "gst_structure_n_fields": (ctypes.c_int, [_P]),
        "gst_structure_nth_field_name": (ctypes.c_char_p, [_P, ctypes.c_uint]),
        "gst_structure_get_value": (_P, [_P, ctypes.c_char_p]),
        "gst_structure_get_type": (ctypes.c_size_t, []),
        "gst_value_serialize": (_P, [_P]),
        "gst_value_array_get_type": (ctypes.c_size_t, []),
        "gst_value_array_get_size": (ctypes.c_uint, [_P]),
        "gst_value_array_get_value": (_P, [_P, ctypes.c_uint]),
        "gst_value_list_get_type": (ctypes.c_size_t, []),
        "gst_value_list_get_size": (ctypes.c_uint, [_P]),
        "gst_value_list_get_value": (_P, [_P, ctypes.c_uint]),
    },
)
declare(_glib, {"g_free": (None, [_P])})
# gst_structure_new is variadic: arguments are converted at each call.
gst.gst_structure_new.restype = _P

_ROI_API = _video.gst_video_region_of_interest_meta_api_get_type()
# GstVideoRegionOfInterestMeta after its GstMeta header (flags, info):
# roi_type (GQuark), id, parent_id, x, y, w, h, params (GList *).
_ROI_FIELDS = struct.Struct("=16xIiiIIIIxxxxQ")
_GLIST_LINK = struct.Struct("=QQ")  # GList: data, next

_G_TYPE_STRING = 16 << 2
_STRING_GTYPE = ctypes.c_size_t(_G_TYPE_STRING)  # a GType argument of the variadic setters
_STRUCTURE_TYPE = gst.gst_structure_get_type()
_ARRAY_TYPE = gst.gst_value_array_get_type()
_LIST_TYPE = gst.gst_value_list_get_type()
_SCALARS = {
    5 << 2: lambda address: bool(ctypes.c_int.from_address(address).value),  # gboolean
    3 << 2: lambda address: ctypes.c_byte.from_address(address).value,  # gchar
    4 << 2: lambda address: ctypes.c_ubyte.from_address(address).value,  # guchar
    6 << 2: lambda address: ctypes.c_int.from_address(address).value,
    7 << 2: lambda address: ctypes.c_uint.from_address(address).value,
    8 << 2: lambda address: ctypes.c_long.from_address(address).value,
    9 << 2: lambda address: ctypes.c_ulong.from_address(address).value,
    10 << 2: lambda address: ctypes.c_int64.from_address(address).value,
    11 << 2: lambda address: ctypes.c_uint64.from_address(address).value,
    14 << 2: lambda address: ctypes.c_float.from_address(address).value,
    15 << 2: lambda address: ctypes.c_double.from_address(address).value,
}
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
    objects: list[dict[str, Any]] = []
    rois: list[int | None] = []
    pointer = hash(buffer)
    state = _P()
    state_ref = ctypes.byref(state)
    iterate = gst.gst_buffer_iterate_meta_filtered
    unpack = _ROI_FIELDS.unpack
    string_at = ctypes.string_at
    size = _ROI_FIELDS.size
    while meta := iterate(pointer, state_ref, _ROI_API):
        quark, object_id, parent_id, x, y, w, h, params = unpack(string_at(meta, size))
        label = _quark_strings.get(quark) or _quark_string(quark)
        obj = {
            "object_id": object_id,
            "parent_id": parent_id,
            "class_id": label_ids.get(label, UNKNOWN_CLASS_ID),
            "obj_label": label,
            "confidence": UNKNOWN_CONFIDENCE,
            "rect_params": {"left": x, "top": y, "width": w, "height": h},
            "params": {},
        }
        if params:
            obj["params"] = _read_params(params, obj)
        objects.append(obj)
        rois.append(meta)
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
    for roi, result in zip(rois, results, strict=False):
        if roi is None or (isinstance(result, dict) and not result):
            continue
        text = to_json(result).encode()
        param = _video.gst_video_region_of_interest_meta_get_param(roi, _RESULT_PARAM_C)
        if param:
            gst.gst_structure_set(_P(param), _JSON_FIELD_C, _STRING_GTYPE, text, None)
        else:
            param = gst.gst_structure_new(_RESULT_PARAM_C, _JSON_FIELD_C, _STRING_GTYPE, text, None)
            _video.gst_video_region_of_interest_meta_add_param(roi, param)


def _quark_string(quark: int) -> str:
    text = GLib.quark_to_string(quark) if quark else ""
    _quark_strings[quark] = text
    return text


def _read_params(link: int, obj: dict[str, Any]) -> dict[str, Any]:
    """The param structures of a ROI as {name: dict}; fills class_id/confidence from detection."""
    params: dict[str, Any] = {}
    unpack = _GLIST_LINK.unpack
    while link:
        structure, link = unpack(ctypes.string_at(link, _GLIST_LINK.size))
        name = gst.gst_structure_get_name(structure).decode("utf-8", "replace")
        value = _structure_dict(structure)
        if name == RESULT_PARAM:
            value = _decoded_result(value)
        params.setdefault(name, value)
    detection = params.get(DETECTION_PARAM)
    if isinstance(detection, dict):
        if isinstance(detection.get("label_id"), int):
            obj["class_id"] = detection["label_id"]
        if isinstance(detection.get("confidence"), (int, float)):
            obj["confidence"] = float(detection["confidence"])
    return params


def _decoded_result(param: dict[str, Any]) -> Any:
    """An "emcustom" param shows the result it carries; one that is not our JSON stays as is."""
    text = param.get("json")
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return param


def _structure_dict(structure: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for index in range(gst.gst_structure_n_fields(structure)):
        field = gst.gst_structure_nth_field_name(structure, index)
        values[field.decode("utf-8", "replace")] = _gvalue(
            gst.gst_structure_get_value(structure, field)
        )
    return values


def _gvalue(address: int) -> Any:
    """A GValue as plain data: numbers, strings, structures as dicts, arrays and lists as lists;
    other types as their GStreamer serialization (e.g. fractions as "30/1")."""
    gtype = ctypes.c_size_t.from_address(address).value
    data = address + ctypes.sizeof(ctypes.c_size_t)
    scalar = _SCALARS.get(gtype)
    if scalar is not None:
        return scalar(data)
    if gtype == _G_TYPE_STRING:
        text = ctypes.c_char_p.from_address(data).value
        return None if text is None else text.decode("utf-8", "replace")
    if gtype == _STRUCTURE_TYPE:
        structure = _P.from_address(data).value
        return _structure_dict(structure) if structure else None
    if gtype == _ARRAY_TYPE:
        return [
            _gvalue(gst.gst_value_array_get_value(address, i))
            for i in range(gst.gst_value_array_get_size(address))
        ]
    if gtype == _LIST_TYPE:
        return [
            _gvalue(gst.gst_value_list_get_value(address, i))
            for i in range(gst.gst_value_list_get_size(address))
        ]
    serialized = gst.gst_value_serialize(address)
    if not serialized:
        return None
    try:
        return ctypes.string_at(serialized).decode("utf-8", "replace")
    finally:
        _glib.g_free(serialized)


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

"""Average intensity of the frame (no objects) or of each object's rectangle.

Options: `person_class_id` (int) or `label` (str) chooses which objects are measured;
without either, every object is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gi.repository import Gst


def _luma_plane(data: memoryview, frame: dict[str, Any]) -> np.ndarray:
    """A (height, width) view of the intensity: Y for I420, the mean of R, G, B for RGBA."""
    plane = frame["planes"][0]
    height, width = frame["height"], frame["width"]
    if frame["format"] == "I420":
        return np.ndarray((height, width), np.uint8, data, plane["offset"], (plane["stride"], 1))
    rgba = np.ndarray((height, width, 4), np.uint8, data, plane["offset"], (plane["stride"], 4, 1))
    return rgba[:, :, :3].mean(axis=2)


def _wanted(obj: dict[str, Any], options: dict[str, Any]) -> bool:
    if "person_class_id" in options:
        return obj.get("class_id") == int(options["person_class_id"])
    if "label" in options:
        return obj.get("obj_label") == options["label"]
    return True


def process_ip(io_buffer: Gst.Buffer, in_meta: dict, options: dict, events: dict) -> list:
    frame = in_meta["frame"][0]
    with io_buffer.map(Gst.MapFlags.READ) as info:
        intensity = _luma_plane(info.data, frame)
        objects = frame["object"]
        if not objects:
            return [{"average_intensity": round(float(intensity.mean()), 3)}]
        results: list[dict[str, Any]] = []
        for obj in objects:
            if not _wanted(obj, options):
                results.append({})
                continue
            rect = obj["rect_params"]
            left, top = max(int(rect["left"]), 0), max(int(rect["top"]), 0)
            crop = intensity[top : top + int(rect["height"]), left : left + int(rect["width"])]
            results.append({"average_intensity": round(float(crop.mean()), 3)} if crop.size else {})
        del intensity
        return results


def process(in_buffer: Gst.Buffer, in_meta: dict, options: dict, events: dict) -> tuple:
    """Not in place: measure like process_ip() and pass the frame on unchanged."""
    return in_buffer, process_ip(in_buffer, in_meta, options, events)

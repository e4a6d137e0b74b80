"""Average intensity of the frame (no objects) or of each object's rectangle.

Options: `person_class_id` (int) or `label` (str) chooses which objects are measured;
without either, every object is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gi.repository import Gst

import empycustom


def _intensity(view: np.ndarray | tuple[np.ndarray, ...]) -> np.ndarray:
    """A (height, width) intensity: the Y plane of I420/NV12, GRAY8 itself, else mean of R, G, B."""
    if isinstance(view, tuple):
        return view[0]
    if view.ndim == 2:
        return view
    return view[:, :, :3].mean(axis=2)  # R, G, B in some order: the mean does not care


def _wanted(obj: dict[str, Any], options: dict[str, Any]) -> bool:
    if "person_class_id" in options:
        return obj.get("class_id") == int(options["person_class_id"])
    if "label" in options:
        return obj.get("obj_label") == options["label"]
    return True


def process_ip(io_buffer: Gst.Buffer, in_meta: dict, options: dict, events: dict) -> list:
    objects = in_meta["frame"][0]["object"]
    with empycustom.frame(io_buffer, in_meta) as view:
        if not objects:
            return [{"average_intensity": round(float(_intensity(view).mean()), 3)}]
        # Crop before averaging the colours: only the objects' pixels are read.
        packed = view[0] if isinstance(view, tuple) else view
        results: list[dict[str, Any]] = []
        for obj in objects:
            rect = obj["rect_params"]
            left, top = max(int(rect["left"]), 0), max(int(rect["top"]), 0)
            crop = packed[top : top + int(rect["height"]), left : left + int(rect["width"])]
            if not _wanted(obj, options) or not crop.size:
                results.append({})
                continue
            results.append({"average_intensity": round(float(_intensity(crop).mean()), 3)})
        return results


def process(in_buffer: Gst.Buffer, in_meta: dict, options: dict, events: dict) -> tuple:
    """Not in place: measure like process_ip() and pass the frame on unchanged."""
    return in_buffer, process_ip(in_buffer, in_meta, options, events)

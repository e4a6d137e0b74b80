"""Draw each object's box and its `emcustom` result onto the frame, in place.

The reference could not do this (its buffers were read-only). Run it after the elements that
produce the results: they arrive as each object's `"emcustom"` and the frame's (see "A chain of
elements behaves as one" in the README). With no objects it writes the frame's result in the
top-left corner.
Each result is written on a label filled with the box's colour, in black, so that it reads on
any picture; line width and text size follow the frame's height unless options set them.
Packed RGB formats get coloured boxes; I420, NV12 and GRAY8 get them in the luma plane.

Options: `color` ([r, g, b], default green), `thickness` (default: frame height / 240, at
least 2), `font_scale` (default: frame height / 900, at least 0.35).
Needs OpenCV for text: `pip install 'empycustom[opencv]'`.
"""

from __future__ import annotations

import json
from typing import Any

from gi.repository import Gst

import empycustom

cv2: Any = None

# Channel order of each packed format, to turn an RGB colour into the frame's own order.
_CHANNELS = {"RGBA": "RGBA", "RGBx": "RGBx", "BGRA": "BGRA", "BGRx": "BGRx", "RGB": "RGB",
             "BGR": "BGR"}  # fmt: skip


def start(options: dict) -> None:
    global cv2
    try:
        import cv2 as opencv
    except ImportError as error:
        raise ImportError("draw_overlay needs OpenCV: pip install 'empycustom[opencv]'") from error
    cv2 = opencv


def label_text(result: Any) -> str:
    """A short one-line text for a result: `key: value` pairs, floats with 1 decimal."""
    if not isinstance(result, dict):
        return json.dumps(result)[:40]
    parts = []
    for key, value in result.items():
        shown = f"{value:.1f}" if isinstance(value, float) else str(value)
        parts.append(f"{key}: {shown}")
    return ", ".join(parts)[:60]


def _pen(frame_format: str, options: dict) -> tuple[int, ...]:
    red, green, blue = options.get("color", (0, 255, 0))
    order = _CHANNELS.get(frame_format)
    if order is None:  # luma plane: bright
        return (255,)
    rgb = {"R": red, "G": green, "B": blue, "A": 255, "x": 255}
    return tuple(int(rgb[channel]) for channel in order)


def _sizes(frame_height: int, options: dict) -> tuple[int, float]:
    """Box line width and font scale: from options, else proportional to the frame height."""
    thickness = int(options.get("thickness", max(2, round(frame_height / 240))))
    scale = float(options.get("font_scale", max(0.35, frame_height / 900)))
    return thickness, scale


def _label(target: Any, text: str, left: int, bottom: int, scale: float, pen: tuple) -> None:
    """`text` in black on a box filled with `pen`, its lower-left corner at (left, bottom),
    moved left as far as needed to stay inside the frame."""
    weight = max(1, round(scale * 2))
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
    pad = max(2, round(height / 4))
    left = max(min(left, target.shape[1] - width - 2 * pad), 0)
    top = max(bottom - height - baseline - 2 * pad, 0)
    bottom = top + height + baseline + 2 * pad
    cv2.rectangle(target, (left, top), (left + width + 2 * pad, bottom), pen, cv2.FILLED)
    ink = (0,) * len(pen)
    cv2.putText(target, text, (left + pad, bottom - pad - baseline), cv2.FONT_HERSHEY_SIMPLEX,
                scale, ink, weight, cv2.LINE_AA)  # fmt: skip


def process_ip(io_buffer: Gst.Buffer, in_meta: dict, options: dict, events: dict) -> str:
    frame = in_meta["frame"][0]
    thickness, scale = _sizes(frame["height"], options)
    pen = _pen(frame["format"], options)
    with empycustom.frame(io_buffer, in_meta, writable=True) as view:
        # The views' rows may be padded; OpenCV draws on such arrays in place.
        target = view[0] if isinstance(view, tuple) else view
        for obj in frame["object"]:
            rect = obj["rect_params"]
            left, top = int(rect["left"]), int(rect["top"])
            right, bottom = left + int(rect["width"]), top + int(rect["height"])
            cv2.rectangle(target, (left, top), (right, bottom), pen, thickness)
            result = obj.get("emcustom")  # what the empycustom elements upstream found
            if result:
                _label(target, label_text(result), left, top, scale, pen)
        frame_result = frame.get("emcustom")
        if not frame["object"] and frame_result:
            _label(target, label_text(frame_result), 0, 0, scale, pen)
    return ""

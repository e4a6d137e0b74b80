"""Benchmark library, not in place: returns a numpy frame (allocated once, reused)."""

import numpy as np

_frame = np.zeros(0, np.uint8)


def process(in_buffer, in_meta, options, events):
    global _frame
    info = in_meta["frame"][0]
    shape = (info["height"], info["width"], 4)
    if _frame.shape != shape:
        _frame = np.zeros(shape, np.uint8)
    return _frame, ""

"""Benchmark library: writes one pixel through the frame helper.

Uses `empycustom.frame` when the package has it; otherwise maps the buffer and builds the numpy
view by hand, the way libraries had to before (bench.py says which path ran).
"""

import numpy as np

import empycustom
from empycustom.gst.runtime import Gst

frame = getattr(empycustom, "frame", None)


def process_ip(io_buffer, in_meta, options, events):
    if frame is not None:
        with frame(io_buffer, in_meta, writable=True) as image:
            image[0, 0] = 255
        return ""
    info = in_meta["frame"][0]
    with io_buffer.map(Gst.MapFlags.READ | Gst.MapFlags.WRITE) as mapping:
        image = np.ndarray((info["height"], info["width"], 4), np.uint8, mapping.data)
        image[0, 0] = 255
        del image  # no view may outlive the map
    return ""

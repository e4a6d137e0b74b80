"""Benchmark library: reads one pixel through the frame helper."""

import empycustom


def process_ip(io_buffer, in_meta, options, events):
    with empycustom.frame(io_buffer, in_meta) as image:
        int(image[0, 0, 0])
    return ""

"""Benchmark library: the frame's mean (one read pass over every byte, numpy) as its result."""

import empycustom


def process_ip(io_buffer, in_meta, options, events):
    with empycustom.frame(io_buffer, in_meta) as image:
        return {"mean": float(image.mean())}

"""Benchmark library, not in place: returns the input buffer as the output frame."""


def process(in_buffer, in_meta, options, events):
    return in_buffer, ""

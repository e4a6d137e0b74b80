"""Benchmark library: does nothing and returns a small dict (the frame's "emcustom")."""

RESULT = {"label": "person", "score": 0.5, "count": 1}


def process_ip(io_buffer, in_meta, options, events):
    return RESULT

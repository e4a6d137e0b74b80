"""Benchmark library: does nothing and returns no results (the element's fixed cost)."""


def process_ip(io_buffer, in_meta, options, events):
    return ""

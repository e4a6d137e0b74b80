"""The GStreamer elements (empycustom, aimeta, perf, metapublish), one file each, and their
registration.

GStreamer glue only: may import `publish`, `meta`, `frames`, `library`, `gst`; never `cli`.
"""

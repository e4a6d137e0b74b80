"""The GStreamer elements (empycustom, aimeta, perf), one file each, and their registration.

GStreamer glue only: may import `meta`, `frames`, `library`, `gst`; never `cli`.
"""

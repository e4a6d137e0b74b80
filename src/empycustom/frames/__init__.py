"""Pixels: the frame layout from caps and video meta, numpy views, buffer maps, output writing.

May import `library`, `gst` and `empycustom._native`; never `meta` (meta depends on frames).
"""

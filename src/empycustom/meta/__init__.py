"""The metadata contract as plain functions on plain data: in_meta, out_meta, merge, objects
(ROI and analytics metas), the custom meta that carries a frame's JSON.

May import `frames`, `library`, `gst` and `empycustom._native`; never `elements` or `cli`.
"""

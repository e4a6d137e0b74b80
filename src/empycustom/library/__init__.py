"""The user's custom library: loading, starting in the background, hot reload, options.

The lowest layer with `gst`: may import `empycustom.gst` and `empycustom._native`, nothing above.
"""

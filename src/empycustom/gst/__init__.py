"""Small GStreamer/GObject helpers: gi set-up, ctypes, debug category, bus messages, signals.

The lowest layer: imports nothing of empycustom but the C extension `empycustom._native`.
"""

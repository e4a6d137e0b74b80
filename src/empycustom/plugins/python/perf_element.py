"""Plugin-loader entry for the `perf` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom._gst import Gst
from empycustom.perf import Perf

__gstelementfactory__ = ("perf", Gst.Rank.NONE, Perf)

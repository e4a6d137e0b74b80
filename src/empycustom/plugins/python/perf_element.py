"""Plugin-loader entry for the `perf` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom.elements.perf import Perf
from empycustom.gst.runtime import Gst

__gstelementfactory__ = ("perf", Gst.Rank.NONE, Perf)

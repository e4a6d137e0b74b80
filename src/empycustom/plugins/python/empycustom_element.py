"""Plugin-loader entry for the `empycustom` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom._gst import Gst
from empycustom.custom_meta import ensure_registered
from empycustom.element import EmPyCustom

ensure_registered()
__gstelementfactory__ = ("empycustom", Gst.Rank.NONE, EmPyCustom)

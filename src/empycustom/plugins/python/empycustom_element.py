"""Plugin-loader entry for the `empycustom` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom.elements.empycustom import EmPyCustom
from empycustom.gst.runtime import Gst
from empycustom.meta.custom_meta import ensure_registered

ensure_registered()
__gstelementfactory__ = ("empycustom", Gst.Rank.NONE, EmPyCustom)

"""Plugin-loader entry for the `aimeta` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom.elements.aimeta import AiMeta
from empycustom.gst.runtime import Gst
from empycustom.meta.custom_meta import ensure_registered

ensure_registered()
__gstelementfactory__ = ("aimeta", Gst.Rank.NONE, AiMeta)

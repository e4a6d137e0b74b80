"""Plugin-loader entry for the `aimeta` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom._gst import Gst
from empycustom.aimeta import AiMeta
from empycustom.custom_meta import ensure_registered

ensure_registered()
__gstelementfactory__ = ("aimeta", Gst.Rank.NONE, AiMeta)

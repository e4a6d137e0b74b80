"""Plugin-loader entry for the `metapublish` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom.elements.metapublish import MetaPublish
from empycustom.gst.runtime import Gst
from empycustom.meta.custom_meta import ensure_registered

ensure_registered()
__gstelementfactory__ = ("metapublish", Gst.Rank.NONE, MetaPublish)

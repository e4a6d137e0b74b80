"""The one place that imports GStreamer through gi and initialises it."""

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")

from gi.repository import GLib, GObject, Gst, GstBase, GstVideo  # noqa: E402

if not Gst.is_initialized():
    Gst.init(None)


def filter_pad_templates(caps: Gst.Caps) -> tuple[Gst.PadTemplate, Gst.PadTemplate]:
    """The always-present "sink" and "src" pad templates of a one-in, one-out element."""
    return (
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, caps),
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, caps),
    )


def caps_structure(caps: Gst.Caps, index: int = 0) -> Gst.Structure:
    """A copy of structure `index` of caps, with gst-python 1.22 and 1.26 alike.

    `Caps.get_structure()` returns the structure on gst-python 1.22, a `StructureWrapper` (a
    context manager giving the structure) on 1.26.
    """
    structure = caps.get_structure(index)
    if isinstance(structure, Gst.Structure):
        return structure.copy()
    with structure as borrowed:
        return borrowed.copy()


__all__ = [
    "GLib",
    "GObject",
    "Gst",
    "GstBase",
    "GstVideo",
    "caps_structure",
    "filter_pad_templates",
]

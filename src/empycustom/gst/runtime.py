"""The one place that imports GStreamer through gi and initialises it."""

import sys

import gi

MIN_PYGOBJECT = (3, 43, 1)


def pygobject_problem(version: tuple[int, ...]) -> str | None:
    """What is wrong with this PyGObject version for the elements, or None."""
    if tuple(version) >= MIN_PYGOBJECT:
        return None
    shown = ".".join(map(str, version))
    return (
        f"empycustom: PyGObject {shown} prints a GStreamer-CRITICAL \"created element should be "
        "floating\" for every element it creates; install PyGObject >= 3.43.1 in this "
        "environment: pip install 'PyGObject>=3.43.1,<3.50' (Debian 12; 3.50 and later need "
        "GLib 2.80), or reinstall empycustom, which requires it"
    )


_problem = pygobject_problem(gi.version_info)
if _problem:
    print(_problem, file=sys.stderr)

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

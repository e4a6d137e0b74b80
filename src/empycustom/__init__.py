"""empycustom: custom Python processing inside GStreamer video pipelines.

The public API lives here; the packages below are layers, each importing only those under it:
cli -> elements -> meta -> frames -> library -> gst (and the C extension `_native` under all).
"""

# Before the imports: the elements' registration reads it (pyproject.toml takes it from here).
__version__ = "0.1.0"

from empycustom.elements.registration import plugin_path, register
from empycustom.frames.views import FrameError, frame
from empycustom.meta.custom_meta import read_meta, read_meta_json
from empycustom.meta.editing import add_object, remove_object

__all__ = [
    "__version__",
    "FrameError",
    "add_object",
    "frame",
    "plugin_path",
    "read_meta",
    "read_meta_json",
    "register",
    "remove_object",
]

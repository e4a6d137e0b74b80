"""empycustom: custom Python processing inside GStreamer video pipelines."""

from empycustom.custom_meta import read_meta, read_meta_json
from empycustom.frames import FrameError, frame
from empycustom.registration import plugin_path, register

__all__ = ["FrameError", "frame", "plugin_path", "read_meta", "read_meta_json", "register"]
__version__ = "0.1.0"

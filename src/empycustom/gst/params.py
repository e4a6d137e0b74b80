"""Property flags: gst-inspect-1.0 shows from them when a property may change."""

from empycustom.gst.runtime import GObject, Gst

RW = GObject.ParamFlags.READWRITE
RW_PLAYING = RW | Gst.PARAM_MUTABLE_PLAYING  # takes effect while playing
RW_READY = RW | Gst.PARAM_MUTABLE_READY  # read when the element starts: set it up to READY

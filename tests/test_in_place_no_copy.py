"""In place, the frame the library writes is the very memory upstream filled: no copy."""

from __future__ import annotations

import numpy as np

from empycustom.gst.runtime import Gst

# Reports the address of the frame it writes in its out_meta.
ADDRESS_LIBRARY = """
import numpy as np
from gi.repository import Gst
def process_ip(io_buffer, in_meta, options, events):
    with io_buffer.map(Gst.MapFlags.READ | Gst.MapFlags.WRITE) as info:
        frame = np.frombuffer(info.data, np.uint8)
        frame[0] = 7
        address = frame.ctypes.data
        del frame
    return {"address": address}
"""


def data_address(buffer: Gst.Buffer) -> int:
    with buffer.map(Gst.MapFlags.READ) as info:
        view = np.frombuffer(info.data, np.uint8)
        address = view.ctypes.data
        del view
    return address


def record_addresses(target: list[int]):
    def on_buffer(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        target.append(data_address(info.get_buffer()))
        return Gst.PadProbeReturn.OK

    return on_buffer


def test_in_place_processing_never_copies_the_frame(pipeline, write_library):
    lib = write_library(ADDRESS_LIBRARY)
    before: list[int] = []
    after: list[int] = []

    def configure(p: Gst.Pipeline) -> None:
        element = p.get_by_name("e")
        element.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, record_addresses(before))
        element.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, record_addresses(after))

    result = pipeline(
        "videotestsrc num-buffers=20 pattern=black ! video/x-raw,format=RGBA,width=64,height=48 "
        f"! empycustom name=e custom-lib={lib} in-place=true ! appsink name=sink",
        configure=configure,
    )
    assert result.eos, result.error_texts
    written = [frame.meta["frame"][0]["emcustom"]["address"] for frame in result.frames]
    assert len(before) == len(written) == len(after) == 20
    assert before == written == after
    assert all(frame.data[0] == 7 for frame in result.frames)  # the write reached downstream

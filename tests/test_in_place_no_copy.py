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


# Not in place: writes its own frame (out_buffer), so the output must be a buffer of its own.
OUTPUT_LIBRARY = """
import numpy as np
def process(in_buffer, in_meta, options, events):
    frame = np.full((48, 64, 4), 9, np.uint8)
    return frame, ""
"""


def test_not_in_place_output_frames_come_from_a_pool_the_element_keeps(
    pipeline, write_library
):
    """fakesink and appsink offer no buffer pool: the element pools its output frames instead
    of allocating every one anew (fresh pages at every frame), and recycles them."""
    lib = write_library(OUTPUT_LIBRARY)
    pools: list[Gst.BufferPool | None] = []
    addresses: list[int] = []

    def on_output(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        buffer = info.get_buffer()
        pools.append(buffer.pool)
        addresses.append(data_address(buffer))
        return Gst.PadProbeReturn.OK

    def configure(p: Gst.Pipeline) -> None:
        p.get_by_name("e").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_output)

    result = pipeline(
        "videotestsrc num-buffers=20 pattern=black ! video/x-raw,format=RGBA,width=64,height=48 "
        f"! empycustom name=e custom-lib={lib} in-place=false ! appsink name=sink",
        configure=configure,
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == 20
    assert all(frame.data[0] == 9 for frame in result.frames)
    assert len(pools) == 20 and pools[0] is not None
    assert all(pool is pools[0] for pool in pools)
    assert len(set(addresses)) < 20  # the pool's frames come back


def test_not_in_place_uses_the_pool_downstream_offers(pipeline, write_library):
    """A pool proposed downstream is kept: videoconvert (a GstVideoFilter, converting: not
    passthrough) proposes a GstVideoBufferPool; only an answer without a pool gets the
    element's own (a plain GstBufferPool)."""
    lib = write_library(OUTPUT_LIBRARY)
    pool_types: dict[str, list[str]] = {"videoconvert": [], "appsink": []}

    def record(name: str):
        def on_output(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            pool = info.get_buffer().pool
            pool_types[name].append(pool.__gtype__.name if pool is not None else "none")
            return Gst.PadProbeReturn.OK

        return on_output

    def configure(p: Gst.Pipeline) -> None:
        for name in pool_types:
            pad = p.get_by_name(f"e_{name}").get_static_pad("src")
            pad.add_probe(Gst.PadProbeType.BUFFER, record(name))

    caps = "video/x-raw,format=RGBA,width=64,height=48"
    result = pipeline(
        f"videotestsrc num-buffers=5 pattern=black ! {caps} "
        f"! empycustom name=e_videoconvert custom-lib={lib} in-place=false "
        "! videoconvert ! video/x-raw,format=BGRA "
        f"! empycustom name=e_appsink custom-lib={lib} in-place=false ! appsink name=sink",
        configure=configure,
    )
    assert result.eos, result.error_texts
    assert pool_types == {"videoconvert": ["GstVideoBufferPool"] * 5,
                          "appsink": ["GstBufferPool"] * 5}  # fmt: skip

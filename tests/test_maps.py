"""Maps a library leaves open are released after the call, with one warning per library."""

from __future__ import annotations

import gc
import sys

from empycustom.frames.maps import LentBuffer, OpenMaps
from empycustom.gst.runtime import GLib, Gst

FORGETFUL = """
    import numpy as np
    from gi.repository import Gst

    def process_ip(io_buffer, in_meta, options, events):
        # The reference example: mapped, read through numpy, never unmapped.
        ret, map_info = io_buffer.map(Gst.MapFlags.READ)
        frame = in_meta["frame"][0]
        pixels = np.ndarray((frame["height"], frame["width"], 4), np.uint8, map_info.data)
        return [{"first": int(pixels[0, 0, 0])}]
"""


def lock_state(buffer: Gst.Buffer) -> int:
    """The lock state of the buffer's memory: every open map adds to it."""
    return buffer.peek_memory(0).mini_object.lockstate


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_open_maps_are_unmapped_and_counted():
    buffer = Gst.Buffer.new_allocate(None, 64, None)
    unmapped_state = lock_state(buffer)
    tracker = OpenMaps(buffer)
    forgotten = buffer.map(Gst.MapFlags.READ)
    ranged = buffer.map_range(0, 1, Gst.MapFlags.READ)
    with buffer.map(Gst.MapFlags.READ) as closed:
        assert closed.size == 64
    assert lock_state(buffer) != unmapped_state

    assert tracker.release() == 2
    assert forgotten.__parent__ is None and ranged.__parent__ is None
    assert lock_state(buffer) == unmapped_state


def test_release_leaves_the_buffer_as_it_was():
    buffer = Gst.Buffer.new_allocate(None, 64, None)
    references = sys.getrefcount(buffer)
    tracker = OpenMaps(buffer)
    buffer.map(Gst.MapFlags.READ)
    tracker.release()
    del tracker
    gc.collect()
    # No reference cycle through the instance attributes keeps the buffer object alive.
    assert sys.getrefcount(buffer) == references
    assert "map" not in vars(buffer) and "map_range" not in vars(buffer)
    # Not tracked any more: a map made now stays the caller's business.
    info = buffer.map(Gst.MapFlags.READ)
    assert OpenMaps(Gst.Buffer.new_allocate(None, 8, None)).release() == 0
    assert info.__parent__ is buffer
    buffer.unmap(info)


def test_other_buffers_are_not_tracked():
    given = Gst.Buffer.new_allocate(None, 64, None)
    other = Gst.Buffer.new_allocate(None, 64, None)
    tracker = OpenMaps(given)
    info = other.map(Gst.MapFlags.READ)
    assert tracker.release() == 0
    assert info.__parent__ is other
    other.unmap(info)


def test_forgetful_library_keeps_memory_flat(write_library, pipeline, report_figure):
    library = write_library(FORGETFUL)
    frames = 2000
    samples: list[int] = []

    def configure(p: Gst.Pipeline) -> None:
        element = p.get_by_name("e")

        def sample(_element: Gst.Element, _text: str) -> None:
            samples.append(rss_kb())
            # Without the fix each frame keeps 1.2 MB: stop early instead of eating gigabytes.
            if len(samples) > 200 and samples[-1] - samples[100] > 300_000:
                element.post_message(
                    Gst.Message.new_error(element, GLib.Error("memory grows"), "stopped early")
                )

        element.connect("new-meta", sample)

    result = pipeline(
        f"videotestsrc num-buffers={frames} pattern=black ! "
        "video/x-raw,format=RGBA,width=640,height=480 ! "
        f"empycustom name=e in-place=true custom-lib={library} ! fakesink",
        configure=configure,
        signal_element=None,  # collecting 2000 metas would grow memory itself
        timeout=120,
    )
    assert result.eos, result.error_texts
    growth = samples[-1] - samples[100]
    report_figure(
        f"forgotten maps: {frames} 640x480 RGBA frames, RSS {samples[100]} -> {samples[-1]} kB "
        f"after warm-up (growth {growth} kB; 1.2 MB per frame without the fix)"
    )
    assert growth < 20_000
    maps_warnings = [text for text, _ in result.warnings if "map(s) of its buffer open" in text]
    assert len(maps_warnings) == 1, result.warning_texts
    assert "process_ip()" in maps_warnings[0] and library in maps_warnings[0]
    assert len(result.warnings) == 1


def test_library_that_unmaps_gets_no_warning(write_library, pipeline):
    library = write_library(
        """
        from gi.repository import Gst

        def process_ip(io_buffer, in_meta, options, events):
            ret, info = io_buffer.map(Gst.MapFlags.READ)
            first = info.data[0]
            io_buffer.unmap(info)
            with io_buffer.map(Gst.MapFlags.READ | Gst.MapFlags.WRITE) as info:
                info.data[0] = 255 - first
            return []
        """
    )
    result = pipeline(
        "videotestsrc num-buffers=5 ! video/x-raw,format=RGBA,width=16,height=16 ! "
        f"empycustom name=e in-place=true custom-lib={library} ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    assert result.warnings == []
    assert len(result.frames) == 5


def test_a_tracker_lent_again_tracks_only_the_new_buffer():
    first = Gst.Buffer.new_allocate(None, 64, None)
    second = Gst.Buffer.new_allocate(None, 64, None)
    tracker = OpenMaps(first)
    assert isinstance(first, Gst.Buffer) and repr(first).startswith("<Gst.Buffer object")
    first.map(Gst.MapFlags.READ)
    assert tracker.busy and tracker.release() == 1 and not tracker.busy
    # It keeps the lent class (the C transform makes buffers with it), recording nothing now.
    assert type(first) is LentBuffer and repr(first).startswith("<Gst.Buffer object")
    tracker.lend(second)
    kept = first.map(Gst.MapFlags.READ)  # not lent any more: the caller's business
    second.map_range(0, 1, Gst.MapFlags.READ)
    assert tracker.release() == 1 and isinstance(second, Gst.Buffer)
    assert kept.__parent__ is first
    first.unmap(kept)
    assert tracker.release() == 0  # released twice: nothing more


def test_a_buffer_subclass_object_is_tracked_too():
    class Special(Gst.Buffer):
        pass

    buffer = Gst.Buffer.new_allocate(None, 64, None)
    buffer.__class__ = Special
    tracker = OpenMaps(buffer)
    buffer.map(Gst.MapFlags.READ)
    assert tracker.release() == 1
    assert type(buffer) is Special and "map" not in vars(buffer)

"""Releasing the buffer maps a custom library forgets to unmap.

gst-python never unmaps a `MapInfo` when it is garbage-collected, and the reference's own
examples call `io_buffer.map()` without `unmap()`: each forgotten map keeps a whole frame alive.
While a library function runs, `OpenMaps` shadows `map` and `map_range` on the one buffer object
the library was given (an instance attribute: other buffers and threads are untouched), records
every `MapInfo` they return, and `release()` unmaps those still open when the function returns.

It also records the maps `empycustom.frame()` makes of that buffer (by the buffer's address, so
any Python wrapper of it counts): a numpy view that outlives the call is made safe then
(`_native.escape_views`: the frame goes downstream with memory the view does not point into, or
that memory becomes unwritable for everyone else), so it never touches another frame.
"""

from __future__ import annotations

from typing import Any

from empycustom._native import MappedBuffer, escape_views
from empycustom.gst.runtime import Gst

_buffer_map = Gst.Buffer.map
_buffer_map_range = Gst.Buffer.map_range


# The buffers lent to a library call right now, by address.
_calls: dict[int, OpenMaps] = {}


class OpenMaps:
    """The maps opened on one buffer during one library call."""

    __slots__ = ("buffer", "opened", "address", "frames")

    def __init__(self, buffer: Gst.Buffer) -> None:
        self.buffer = buffer
        self.opened: list[Any] = []
        self.frames: list[MappedBuffer] = []  # frame() maps of the buffer during the call
        self.address = hash(buffer)
        _calls[self.address] = self
        buffer.map = self._map
        buffer.map_range = self._map_range

    def _map(self, flags: Gst.MapFlags) -> Any:
        info = _buffer_map(self.buffer, flags)
        self.opened.append(info)
        return info

    def _map_range(self, index: int, length: int, flags: Gst.MapFlags) -> Any:
        info = _buffer_map_range(self.buffer, index, length, flags)
        self.opened.append(info)
        return info

    def release(self) -> int:
        """Stop recording, unmap every map still open and return how many there were."""
        buffer = self.buffer
        _calls.pop(self.address, None)  # frame() maps of the buffer are the caller's from now on
        # The bound methods refer back to the buffer: removing them breaks the cycle, so the
        # buffer object dies with the call instead of holding a reference until the next GC.
        attributes = vars(buffer)
        attributes.pop("map", None)
        attributes.pop("map_range", None)
        left_open = 0
        for info in self.opened:
            if info.__parent__ is not None:  # gst-python clears it on unmap
                buffer.unmap(info)
                left_open += 1
        self.opened.clear()
        return left_open

    def settle_frames(self) -> int:
        """Make the views of frame() that outlive the call safe; returns how many maps had some.

        Called with `release()`, once the call has returned (its local variables are gone).
        """
        return escape_views(self.address, self.frames) if self.frames else 0


def note_frame_map(address: int, mapped: MappedBuffer) -> None:
    """frame() mapped the buffer at `address`: if it is lent to a library call, settle it then."""
    call = _calls.get(address)
    if call is not None:
        call.frames.append(mapped)


def kept_views_text(function_name: str, path: str) -> str:
    """The warning for a library that keeps frame() views after its call returned."""
    return (
        f"{function_name}() of custom-lib '{path}' kept numpy views of its frame after it "
        "returned; the element gave those views memory of their own (a copy of the frame, or "
        "memory no one else writes), so they never touch another frame, but writes through "
        "them reach no frame. Copy what you keep inside the frame() block (np.array(view)). "
        "Reported once per library."
    )


def forgotten_maps_text(function_name: str, path: str, count: int) -> str:
    """The warning for a library that left maps open."""
    return (
        f"{function_name}() of custom-lib '{path}' left {count} map(s) of its buffer open; "
        "the element unmapped them after the call (an open map keeps the whole frame in memory). "
        "Call buffer.unmap(info), or map with 'with buffer.map(flags) as info:'. Do not keep "
        "numpy arrays on the mapped data after the call. Reported once per library."
    )

"""Releasing the buffer maps a custom library forgets to unmap.

gst-python never unmaps a `MapInfo` when it is garbage-collected, and the reference's own
examples call `io_buffer.map()` without `unmap()`: each forgotten map keeps a whole frame alive.
While a library function runs, `OpenMaps` gives the one buffer object the library was given a
class of its own whose `map` and `map_range` record every `MapInfo` they return (other buffer
objects and threads are untouched), and `release()` unmaps those still open when the function
returns.

It also records the maps `empycustom.frame()` makes of that buffer (by the buffer's address, so
any Python wrapper of it counts): a numpy view that outlives the call is made safe then
(`_native.escape_views`: the frame goes downstream with memory the view does not point into, or
that memory becomes unwritable for everyone else), so it never touches another frame.
"""

from __future__ import annotations

from typing import Any

from empycustom._native import MappedBuffer, escape_views
from empycustom.gst.runtime import Gst

_Buffer = Gst.Buffer
_buffer_map = Gst.Buffer.map
_buffer_map_range = Gst.Buffer.map_range


# The buffers lent to a library call right now, by address (frame()'s FrameViews, in C, adds
# its maps of a lent buffer to the `frames` of its OpenMaps).
lent_calls: dict[int, OpenMaps] = {}


def _record(buffer: Gst.Buffer, info: Any) -> Any:
    call = lent_calls.get(hash(buffer))
    if call is not None:
        call.opened.append(info)
    return info


class LentBuffer(_Buffer):
    """The class of a `Gst.Buffer` object lent to a library call: while it is lent, its map()
    and map_range() record the maps they open (afterwards they only map). The element's C
    transform makes the object with this class (`_native.install_transforms`); an object made by
    PyGObject gets it by a class swap, which costs half of shadowing the two methods with
    instance attributes (a dict and two bound methods per buffer). Other objects of the same
    buffer, and other threads' objects, are untouched."""

    __slots__ = ()
    __module__ = _Buffer.__module__

    def map(self, flags: Gst.MapFlags) -> Any:
        return _record(self, _buffer_map(self, flags))

    def map_range(self, index: int, length: int, flags: Gst.MapFlags) -> Any:
        return _record(self, _buffer_map_range(self, index, length, flags))


LentBuffer.__name__ = LentBuffer.__qualname__ = _Buffer.__qualname__  # reprs read as before

class OpenMaps:
    """The maps opened on one buffer during one library call; `lend()` again for the next."""

    __slots__ = ("buffer", "opened", "address", "frames")

    def __init__(self, buffer: Gst.Buffer | None = None) -> None:
        self.buffer: Gst.Buffer | None = None
        self.opened: list[Any] = []
        self.frames: list[MappedBuffer] = []  # frame() maps of the buffer during the call
        self.address = 0
        if buffer is not None:
            self.lend(buffer)

    def lend(self, buffer: Gst.Buffer) -> None:
        """Record the maps of `buffer` from now until `release()`."""
        self.buffer = buffer
        self.address = address = hash(buffer)
        lent_calls[address] = self
        kind = type(buffer)
        if kind is _Buffer:
            buffer.__class__ = LentBuffer  # kept after the call: it records only while lent
        elif kind is not LentBuffer:  # a subclass of its own: its methods are shadowed instead
            buffer.map = lambda flags: _record(buffer, _buffer_map(buffer, flags))
            buffer.map_range = lambda index, length, flags: _record(
                buffer, _buffer_map_range(buffer, index, length, flags)
            )

    @property
    def busy(self) -> bool:
        """Lent and not released yet."""
        return self.buffer is not None

    def release(self) -> int:
        """Stop recording, unmap every map still open and return how many there were."""
        buffer = self.buffer
        if buffer is None:
            return 0
        self.buffer = None  # the buffer object dies with the call, not with this tracker
        lent_calls.pop(self.address, None)  # frame() maps of the buffer are the caller's now
        if type(buffer) is not LentBuffer:
            # The lambdas refer back to the buffer: removing them breaks the cycle, so the
            # buffer object dies with the call instead of holding a reference until the next GC.
            attributes = vars(buffer)
            attributes.pop("map", None)
            attributes.pop("map_range", None)
        opened = self.opened
        if not opened:
            return 0
        left_open = 0
        for info in opened:
            if info.__parent__ is not None:  # gst-python clears it on unmap
                buffer.unmap(info)
                left_open += 1
        opened.clear()
        return left_open

    def settle_frames(self) -> int:
        """Make the views of frame() that outlive the call safe; returns how many maps had some.

        Called with `release()`, once the call has returned (its local variables are gone).
        """
        return escape_views(self.address, self.frames) if self.frames else 0


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

"""Calling the custom library on one frame or a batch, as a worker does (a thread of the
element, or a worker process), returning one outcome per frame instead of raising.

The out_meta each call returns is kept as it is (`Returned.out_meta`): the element parses and
merges it, in stream order, as it does without workers.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from empycustom.frames.layout import FrameLayout
from empycustom.frames.maps import OpenMaps
from empycustom.frames.views import OutputFrameError, write_output
from empycustom.gst.runtime import Gst
from empycustom.library.loader import CustomLibrary, required_function


@dataclass(frozen=True)
class Returned:
    """The library returned `out_meta` for the frame. Not in place, `passed_input` says
    process() returned in_buffer itself (the input frame goes on); otherwise the output frame
    was written. `left_open`: maps of the buffer the library forgot to unmap."""

    out_meta: Any
    passed_input: bool = False
    left_open: int = 0
    # In a worker process: what add_object()/remove_object() recorded, and in_meta's objects
    # after them (None: nothing was added or removed).
    edits: tuple[list[tuple[Any, ...]], list[Any]] | None = None


@dataclass(frozen=True)
class Dropped:
    """process() returned no buffer: the frame is dropped."""

    left_open: int = 0


@dataclass(frozen=True)
class Raised:
    """The call failed: `text` says how (the function and the exception), `debug` is the
    traceback. `output_error`: the output frame did not fit (the text names the layout)."""

    text: str
    debug: str
    output_error: bool = False


@dataclass(frozen=True)
class Frames:
    """The frames of one call (one, or a batch) and what the library is called with."""

    buffers: Sequence[Gst.Buffer]
    outbufs: Sequence[Gst.Buffer | None]  # not in place: where output frames are written
    in_metas: Sequence[dict[str, Any]]
    layout: FrameLayout  # the caps' layout, of the output frames
    options: dict[str, Any]
    events: dict[str, Any]


def call_library(
    library: CustomLibrary, in_place: bool, batch: bool, frames: Frames
) -> list[Returned | Dropped | Raised]:
    """Call process_ip(), process() or (batch) process_batch() and write output frames."""
    name = required_function(in_place, batch)
    maps = [OpenMaps(buffer) for buffer in frames.buffers]
    try:
        outcomes = _call(library, name, in_place, frames)
    except BaseException as error:  # SystemExit, KeyboardInterrupt too: the app goes on
        debug = traceback.format_exc()
        if isinstance(error, (_Misuse, OutputFrameError)):
            text = f"custom-lib '{library.path}': {error}"
        else:
            text = f"{name}() of custom-lib '{library.path}' raised {type(error).__name__}: {error}"
        outcomes = [Raised(text, debug, isinstance(error, OutputFrameError))] * len(maps)
    finally:
        left_open = [open_maps.release() for open_maps in maps]
    return [
        dataclasses.replace(outcome, left_open=count)
        if count and not isinstance(outcome, Raised)
        else outcome
        for outcome, count in zip(outcomes, left_open, strict=True)
    ]


def _call(
    library: CustomLibrary, name: str, in_place: bool, frames: Frames
) -> list[Returned | Dropped | Raised]:
    buffers, outbufs, layout = frames.buffers, frames.outbufs, frames.layout
    options, events = frames.options, frames.events
    if name == "process_batch":
        frame_meta = {"frame": [meta["frame"][0] for meta in frames.in_metas]}
        returned = library.process_batch(list(buffers), frame_meta, options, events)
        if in_place:
            out_metas = _per_frame(returned, len(buffers), name, "the out_metas")
            return [Returned(out_meta) for out_meta in out_metas]
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            raise _Misuse(
                f"{name}() returned {type(returned).__name__}; expected a tuple "
                "(out_buffers, out_metas)"
            )
        out_frames = _per_frame(returned[0], len(buffers), name, "out_buffers")
        out_metas = _per_frame(returned[1], len(buffers), name, "out_metas")
        return [
            _written(frame, buffer, outbuf, out_meta, layout)
            for frame, buffer, outbuf, out_meta in zip(
                out_frames, buffers, outbufs, out_metas, strict=True
            )
        ]
    in_meta = frames.in_metas[0]
    if in_place:
        return [Returned(library.process_ip(buffers[0], in_meta, options, events))]
    returned = library.process(buffers[0], in_meta, options, events)
    if not isinstance(returned, tuple) or len(returned) != 2:
        raise _Misuse(
            f"{name}() returned {type(returned).__name__}; expected a tuple (out_buffer, out_meta)"
        )
    return [_written(returned[0], buffers[0], outbufs[0], returned[1], layout)]


class _Misuse(Exception):
    """A return value that does not follow the contract."""


def _per_frame(value: Any, count: int, name: str, what: str) -> list[Any]:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        size = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise _Misuse(
            f"{name}() returned {size} for {what}; expected a list of {count}, one per frame"
        )
    return list(value)


def _written(
    frame: Any, buffer: Gst.Buffer, outbuf: Gst.Buffer | None, out_meta: Any, layout: FrameLayout
) -> Returned | Dropped:
    if frame is None:
        return Dropped()
    if frame is buffer:
        return Returned(out_meta, passed_input=True)
    write_output(frame, outbuf, layout)
    return Returned(out_meta)

"""The reference's merge rules ("EMPyCustom Integration"), as plain functions."""

from __future__ import annotations

from typing import Any

RESULT_KEY = "emcustom"
EVENTS_KEY = "events"


def merge_results(in_meta: dict[str, Any], results: list[Any]) -> dict[str, Any]:
    """Merge a library's results into in_meta (in place) and return it.

    Result i goes to object i under "emcustom"; objects beyond the results get nothing;
    the first result beyond the objects becomes the frame's "emcustom"; the rest are ignored.
    """
    frame = in_meta["frame"][0]
    objects = frame["object"]
    for obj, result in zip(objects, results, strict=False):
        obj[RESULT_KEY] = result
    if len(results) > len(objects):
        frame[RESULT_KEY] = results[len(objects)]
    return in_meta


def add_events(in_meta: dict[str, Any], events: dict[str, Any]) -> None:
    """Record the events delivered with this frame in its merged meta."""
    if events:
        in_meta["frame"][0][EVENTS_KEY] = events

"""The reference's merge rules ("EMPyCustom Integration"), as plain functions."""

from __future__ import annotations

from typing import Any

from empycustom.meta.outmeta import JsonText

RESULT_KEY = "emcustom"
EVENTS_KEY = "events"


def merge_result(old: Any, new: Any) -> Any:
    """A result merged over an earlier one (an upstream element's): dicts key by key, later keys
    winning; `{}` changes nothing; anything else replaces it. A `JsonText` result (never `{}`)
    is parsed only to be merged into a dict."""
    if old is None:
        return new
    if type(new) is JsonText:
        if not (new.is_object and type(old) is dict):
            return new
        new = new.parse()
    if type(new) is dict and type(old) is dict:
        return {**old, **new} if new else old
    if new == {}:
        return old
    return new


def merge_results(
    in_meta: dict[str, Any],
    results: list[Any] | dict[str, Any] | JsonText,
    upstream: bool = True,
) -> dict[str, Any]:
    """Merge a library's results into in_meta (in place) and return it.

    A list: result i goes to object i under "emcustom"; objects beyond the results get nothing;
    the first result beyond the objects becomes the frame's "emcustom"; the rest are ignored.
    A dict (or a `JsonText`, an object's text): the frame's "emcustom", whatever the number of
    objects. Each result is merged into what upstream elements wrote there (`merge_result`);
    `upstream=False` says no object has an upstream result (`chain.carry_upstream` tells), so
    results are set without merging.
    """
    frame = in_meta["frame"][0]
    if type(results) is dict or type(results) is JsonText:
        old = frame.get(RESULT_KEY)
        frame[RESULT_KEY] = results if old is None else merge_result(old, results)
        return in_meta
    objects = frame["object"]
    if upstream:
        for obj, result in zip(objects, results, strict=False):
            old = obj.get(RESULT_KEY)
            obj[RESULT_KEY] = result if old is None else merge_result(old, result)
    else:
        for obj, result in zip(objects, results, strict=False):
            obj[RESULT_KEY] = result
    if len(results) > len(objects):
        frame[RESULT_KEY] = merge_result(frame.get(RESULT_KEY), results[len(objects)])
    return in_meta


def add_events(in_meta: dict[str, Any], events: dict[str, Any]) -> None:
    """Record the events delivered with this frame in its merged meta, over upstream's."""
    if events:
        frame = in_meta["frame"][0]
        upstream = frame.get(EVENTS_KEY)
        frame[EVENTS_KEY] = {**upstream, **events} if type(upstream) is dict else events

"""The reference's merge rules, on plain data: no pipeline."""

from __future__ import annotations

import copy
import json

from empycustom.meta.merge import add_events, merge_results


def frame_meta(n_objects: int) -> dict:
    objects = [
        {"object_id": i, "obj_label": "face", "rect_params": {"left": i, "top": 0}}
        for i in range(n_objects)
    ]
    return {"frame": [{"frame_num": 7, "buf_pts": 0, "object": objects}]}


def test_one_result_per_object_goes_to_that_object() -> None:
    meta = merge_results(frame_meta(3), [{"a": 0}, {"a": 1}, {"a": 2}])
    frame = meta["frame"][0]
    assert [obj["emcustom"] for obj in frame["object"]] == [{"a": 0}, {"a": 1}, {"a": 2}]
    assert "emcustom" not in frame


def test_objects_keep_their_input_fields() -> None:
    before = frame_meta(2)
    meta = merge_results(copy.deepcopy(before), [{"x": 1}, {"x": 2}])
    for merged, original in zip(
        meta["frame"][0]["object"], before["frame"][0]["object"], strict=True
    ):
        assert {k: v for k, v in merged.items() if k != "emcustom"} == original
    assert meta["frame"][0]["frame_num"] == 7


def test_fewer_results_than_objects_leaves_the_rest_without_a_result() -> None:
    objects = merge_results(frame_meta(3), [{"a": 0}])["frame"][0]["object"]
    assert objects[0]["emcustom"] == {"a": 0}
    assert "emcustom" not in objects[1]
    assert "emcustom" not in objects[2]


def test_first_excess_result_is_frame_meta_and_the_rest_are_ignored() -> None:
    meta = merge_results(frame_meta(2), [{"a": 0}, {"a": 1}, {"frame": 1}, {"ignored": 2}])
    frame = meta["frame"][0]
    assert [obj["emcustom"] for obj in frame["object"]] == [{"a": 0}, {"a": 1}]
    assert frame["emcustom"] == {"frame": 1}
    assert "ignored" not in json.dumps(meta)


def test_no_objects_first_result_is_frame_meta() -> None:
    meta = merge_results(frame_meta(0), [{"frame": True}, {"ignored": True}])
    frame = meta["frame"][0]
    assert frame["object"] == []
    assert frame["emcustom"] == {"frame": True}
    assert "ignored" not in json.dumps(meta)


def test_empty_dict_is_a_valid_result_meaning_nothing() -> None:
    meta = merge_results(frame_meta(3), [{}, {"a": 1}, {}])
    assert [obj["emcustom"] for obj in meta["frame"][0]["object"]] == [{}, {"a": 1}, {}]
    assert "emcustom" not in meta["frame"][0]


def test_no_results_change_nothing() -> None:
    before = frame_meta(2)
    assert merge_results(copy.deepcopy(before), []) == before
    assert merge_results(frame_meta(0), []) == frame_meta(0)


def test_results_need_not_be_dicts() -> None:
    meta = merge_results(frame_meta(2), [1.5, "cat", [1, 2]])
    frame = meta["frame"][0]
    assert [obj["emcustom"] for obj in frame["object"]] == [1.5, "cat"]
    assert frame["emcustom"] == [1, 2]


def test_merge_returns_the_same_dict() -> None:
    meta = frame_meta(1)
    assert merge_results(meta, [{"a": 1}]) is meta


def test_events_are_added_to_the_frame_only_when_there_are_some() -> None:
    meta = frame_meta(1)
    add_events(meta, {})
    assert "events" not in meta["frame"][0]
    add_events(meta, {"door": "open"})
    assert meta["frame"][0]["events"] == {"door": "open"}

"""A chain of empycustom elements behaves as one: every upstream result reaches every output.

Plain-data tests of the rules (meta/chain.py, meta/merge.py), then real pipelines of three
elements checked at every point where meta comes out.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pipeline import ASTRONAUT_FACES, faces_source

from empycustom.gst.runtime import Gst
from empycustom.meta import objects as roi_objects
from empycustom.meta.chain import carry_upstream, match_objects, results_to_write
from empycustom.meta.merge import merge_result, merge_results


def obj(label: str = "face", object_id: int = 0, left: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "object_id": object_id,
        "parent_id": 0,
        "class_id": -1,
        "obj_label": label,
        "confidence": -1.0,
        "rect_params": {"left": left, "top": 10, "width": 20, "height": 20},
        "params": {},
        **extra,
    }


def meta(objects: list[dict[str, Any]], width: int = 320, height: int = 240, **frame: Any):
    return {"frame": [{"frame_num": 0, "width": width, "height": height, "object": objects,
                       **frame}]}  # fmt: skip


# The rules on plain data


class TestMergeResult:
    def test_dicts_merge_key_by_key_later_keys_win(self) -> None:
        assert merge_result({"a": 1, "b": 1}, {"b": 2, "c": 3}) == {"a": 1, "b": 2, "c": 3}

    def test_empty_dict_changes_nothing(self) -> None:
        old = {"a": 1}
        assert merge_result(old, {}) is old
        assert merge_result(1.5, {}) == 1.5
        assert merge_result(None, {}) == {}

    def test_other_values_replace(self) -> None:
        assert merge_result({"a": 1}, [1, 2]) == [1, 2]
        assert merge_result("x", {"a": 1}) == {"a": 1}
        assert merge_result(None, 3) == 3

    def test_the_earlier_dict_is_not_changed(self) -> None:
        old = {"a": 1}
        merge_result(old, {"b": 2})
        assert old == {"a": 1}


class TestMergeResults:
    def test_one_dict_is_the_frame_result_with_objects(self) -> None:
        merged = merge_results(meta([obj(), obj(), obj()]), {"bright": 0.5})
        frame = merged["frame"][0]
        assert frame["emcustom"] == {"bright": 0.5}
        assert all("emcustom" not in o for o in frame["object"])

    def test_one_dict_is_the_frame_result_without_objects(self) -> None:
        assert merge_results(meta([]), {"bright": 0.5})["frame"][0]["emcustom"] == {"bright": 0.5}

    def test_a_list_of_one_dict_still_goes_to_the_first_object(self) -> None:
        merged = merge_results(meta([obj(), obj()]), [{"a": 1}])
        assert merged["frame"][0]["object"][0]["emcustom"] == {"a": 1}
        assert "emcustom" not in merged["frame"][0]

    def test_results_merge_into_upstream_ones(self) -> None:
        in_meta = meta([obj(emcustom={"up": 1, "k": "up"}), obj(emcustom={"up": 2})],
                       emcustom={"frame_up": 1})  # fmt: skip
        merge_results(in_meta, [{"k": "down"}, {}, {"frame_down": 2}])
        frame = in_meta["frame"][0]
        assert [o["emcustom"] for o in frame["object"]] == [{"up": 1, "k": "down"}, {"up": 2}]
        assert frame["emcustom"] == {"frame_up": 1, "frame_down": 2}

    def test_without_upstream_results_results_are_set_as_they_are(self) -> None:
        merged = merge_results(meta([obj(), obj()]), [{}, [1], {"f": 1}], upstream=False)
        frame = merged["frame"][0]
        assert [o["emcustom"] for o in frame["object"]] == [{}, [1]]
        assert frame["emcustom"] == {"f": 1}

    def test_no_result_keeps_upstream_results(self) -> None:
        in_meta = meta([obj(emcustom={"up": 1})], emcustom={"f": 1})
        before = copy.deepcopy(in_meta)
        assert merge_results(in_meta, []) == before
        assert merge_results(in_meta, {}) == before


class TestCarryUpstream:
    def test_roi_params_show_as_each_objects_result(self) -> None:
        in_meta = meta([obj(params={"emcustom": {"a": 1}}), obj()])
        assert carry_upstream(in_meta, meta([]))
        objects = in_meta["frame"][0]["object"]
        assert objects[0]["emcustom"] == {"a": 1}
        assert objects[0]["emcustom"] is not objects[0]["params"]["emcustom"]  # a copy
        assert "emcustom" not in objects[1]

    def test_without_an_upstream_meta_nothing_is_carried(self) -> None:
        """No empycustom upstream (its merged meta survives every converter): nothing to show,
        and nothing per object is looked at."""
        in_meta = meta([obj(params={"emcustom": {"a": 1}})])
        assert not carry_upstream(in_meta, None)
        assert "emcustom" not in in_meta["frame"][0]["object"][0]

    def test_frame_result_and_events_come_from_the_upstream_meta(self) -> None:
        in_meta = meta([])
        carry_upstream(in_meta, meta([], emcustom={"f": 1}, events={"door": "open"}))
        assert in_meta["frame"][0]["emcustom"] == {"f": 1}
        assert in_meta["frame"][0]["events"] == {"door": "open"}

    def test_lost_params_come_back_from_the_upstream_meta(self) -> None:
        """After a format-changing videoconvert on 1.22: ROIs without params."""
        upstream = meta([obj(left=0, emcustom={"n": 0}, class_id=3, confidence=0.9,
                             params={"detection": {"label_id": 3, "confidence": 0.9}}),
                         obj(left=50, emcustom={"n": 1})])  # fmt: skip
        in_meta = meta([obj(left=0), obj(left=50)])
        carry_upstream(in_meta, upstream)
        objects = in_meta["frame"][0]["object"]
        assert [o["emcustom"] for o in objects] == [{"n": 0}, {"n": 1}]
        assert (objects[0]["class_id"], objects[0]["confidence"]) == (3, 0.9)
        assert (objects[1]["class_id"], objects[1]["confidence"]) == (-1, -1.0)

    def test_a_param_wins_over_the_upstream_meta(self) -> None:
        upstream = meta([obj(emcustom={"n": "meta"})])
        in_meta = meta([obj(params={"emcustom": {"n": "param"}})])
        carry_upstream(in_meta, upstream)
        assert in_meta["frame"][0]["object"][0]["emcustom"] == {"n": "param"}

    def test_a_scaled_frame_matches_scaled_boxes(self) -> None:
        upstream = meta([obj(left=10, emcustom={"n": 0}), obj("car", left=100, emcustom={"n": 1})])
        scaled = [obj("car", left=200), obj(left=20)]  # order changed: boxes decide
        for o in scaled:
            o["rect_params"].update(top=20, width=40, height=40)
        in_meta = meta(scaled, width=640, height=480)
        carry_upstream(in_meta, upstream)
        assert [o["emcustom"] for o in in_meta["frame"][0]["object"]] == [{"n": 1}, {"n": 0}]

    def test_upstream_meta_that_is_not_ours_changes_nothing(self) -> None:
        for upstream in ({}, {"frame": []}, {"frame": [1]}, {"frame": [{"object": "x"}]}):
            in_meta = meta([obj()])
            carry_upstream(in_meta, upstream)
            assert in_meta == meta([obj()])


class TestMatchObjects:
    def test_same_objects_in_the_same_order_match_one_to_one(self) -> None:
        upstream = [obj(left=0), obj(left=5)]
        # Identical identities (facedetect gives every face id 0): matched by position, even
        # when a library changed a box in its in_meta (the reference's example does).
        assert match_objects([obj(left=300), obj(left=5)], upstream) == upstream

    def test_an_object_removed_between_elements(self) -> None:
        upstream = [obj(left=0), obj(left=50), obj(left=100)]
        now = [obj(left=0), obj(left=100)]
        assert match_objects(now, upstream) == [upstream[0], upstream[2]]

    def test_objects_added_between_elements_match_nothing(self) -> None:
        upstream = [obj(left=0)]
        now = [obj(left=0), obj(left=200), obj("person", left=0)]
        assert match_objects(now, upstream) == [upstream[0], None, None]

    def test_identity_must_match(self) -> None:
        assert match_objects([obj(object_id=2), obj(object_id=1)], [obj(object_id=1)]) == [
            None,
            obj(object_id=1),
        ]

    def test_boxes_within_a_few_pixels(self) -> None:
        upstream = [obj(left=100)]
        assert match_objects([obj(left=102), obj()], upstream)[0] is upstream[0]
        assert match_objects([obj(left=103), obj()], upstream)[0] is None


def test_results_to_write_skips_what_the_roi_holds() -> None:
    objects = [
        obj(params={"emcustom": {"a": 1}}, emcustom={"a": 1}),
        obj(params={"emcustom": {"a": 1}}, emcustom={"a": 1, "b": 2}),
        obj(emcustom={"c": 3}),
        obj(),
    ]
    assert results_to_write(objects) == [{}, {"a": 1, "b": 2}, {"c": 3}, {}]


# Real pipelines

# Each element names itself in options; "nothing" returns no out_meta at all.
CHAIN_LIB = """
import json

def process_ip(buffer, in_meta, options, events):
    return results(in_meta, options)

def process(buffer, in_meta, options, events):
    return buffer, results(in_meta, options)

def results(in_meta, options):
    name = options["name"]
    if name == "nothing":
        return None
    frame = in_meta["frame"][0]
    objects = frame["object"]
    out = [{name: i, "last": name, "saw": obj.get("emcustom")} for i, obj in enumerate(objects)]
    if objects and name == "c":
        out[1] = {}  # nothing for this object: what upstream wrote stays
    out.append({name + "_frame": len(objects), "last": name, "saw": frame.get("emcustom")})
    return json.dumps(out, indent=1) if options.get("as") == "text" else out
"""


def configure_chain(options: dict[str, str], signals: dict[str, list[dict]], as_text=False):
    """Set each element's options and collect its new-meta signals; `as_text`: the libraries
    return their results as JSON text."""

    def configure(pipeline: Gst.Pipeline) -> None:
        for name, library_name in options.items():
            element = pipeline.get_by_name(name)
            chosen = {"name": library_name, "as": "text" if as_text else "objects"}
            element.set_property("options", json.dumps(chosen))
            signals[name] = []
            element.connect(
                "new-meta", lambda _e, text, name=name: signals[name].append(json.loads(text))
            )

    return configure


def chain_description(lib: str, mode: str, between: str, jsonl: Path) -> str:
    def element(name: str) -> str:
        return f"empycustom name={name} custom-lib={lib} {mode}"

    return (
        f"{faces_source(ASTRONAUT_FACES, 2)} ! {element('a')} ! queue ! {element('b')} ! "
        f"tee name=t t. ! queue ! fakesink t. ! queue ! {between} ! {element('c')} ! "
        f"aimeta name=m location={jsonl} ! appsink name=sink"
    )


def expected_object(index: int) -> dict[str, Any]:
    """What the merged meta after the three elements holds for face `index`."""
    from_a = {"a": index, "last": "a", "saw": None}
    if index == 1:  # c returned {} for it
        return from_a
    return {"a": index, "last": "c", "saw": from_a, "c": index}


def check_chain(result, signals, aimeta_lines: list[str]) -> None:
    assert result.eos, result.error_texts
    assert not result.warnings, result.warning_texts
    assert len(result.frames) == 2
    assert [len(signals[name]) for name in "abc"] == [2, 2, 2]
    assert len(aimeta_lines) == 2
    for index, frame in enumerate(result.frames):
        a, b, c = (signals[name][index] for name in "abc")
        # a: its own results.
        faces_a = a["frame"][0]["object"]
        assert len(faces_a) == 3
        assert [f["emcustom"] for f in faces_a] == [
            {"a": i, "last": "a", "saw": None} for i in range(3)
        ]
        assert a["frame"][0]["emcustom"] == {"a_frame": 3, "last": "a", "saw": None}
        # b returned nothing: a's results pass on unchanged.
        assert [f["emcustom"] for f in b["frame"][0]["object"]] == [f["emcustom"] for f in faces_a]
        assert b["frame"][0]["emcustom"] == a["frame"][0]["emcustom"]
        # c: merged over a's, key by key; it saw a's results in its in_meta.
        faces_c = c["frame"][0]["object"]
        assert [f["emcustom"] for f in faces_c] == [expected_object(i) for i in range(3)]
        assert c["frame"][0]["emcustom"] == {
            "a_frame": 3, "c_frame": 3, "last": "c", "saw": a["frame"][0]["emcustom"]
        }  # fmt: skip
        # Every output after c holds the same: the buffer's meta, aimeta's JSON line.
        assert frame.meta == c
        assert json.loads(aimeta_lines[index]) == c
        # The ROIs carry the merged per-object results too (restored after a converter).
        rois, _ = roi_objects.read_objects(frame.buffer, {})
        assert [o["params"].get("emcustom") for o in rois] == [f["emcustom"] for f in faces_c]
    for name in "abc":
        last = result.pipeline.get_by_name(name).get_property("last-meta")
        assert json.loads(last) == signals[name][-1]
    aimeta_last = result.pipeline.get_by_name("m").get_property("last-meta")
    assert json.loads(aimeta_last) == signals["c"][-1]


@pytest.mark.parametrize("mode", ["in-place=true", "in-place=false"])
@pytest.mark.parametrize(
    "between",
    [
        "identity",
        "videoconvert ! video/x-raw,format=I420",  # drops ROI params on 1.22
        "videoscale ! video/x-raw,width=1040,height=400",  # scales boxes, drops params
    ],
)
def test_three_elements_behave_as_one(pipeline, write_library, tmp_path, mode, between) -> None:
    lib = write_library(CHAIN_LIB)
    jsonl = tmp_path / "meta.jsonl"
    signals: dict[str, list[dict]] = {}
    result = pipeline(
        chain_description(lib, mode, between, jsonl),
        configure=configure_chain({"a": "a", "b": "nothing", "c": "c"}, signals),
        keep_buffers=True,
    )
    check_chain(result, signals, jsonl.read_text().splitlines())
    if "videoscale" in between:  # boxes scaled, nothing else
        faces_a = signals["a"][0]["frame"][0]["object"]
        faces_c = signals["c"][0]["frame"][0]["object"]
        for before, after in zip(faces_a, faces_c, strict=True):
            assert after["rect_params"] == {k: 2 * v for k, v in before["rect_params"].items()}


@pytest.mark.parametrize("mode", ["in-place=true", "in-place=false"])
@pytest.mark.parametrize("between", ["identity", "videoconvert ! video/x-raw,format=I420"])
def test_json_text_results_chain_as_objects_do(
    pipeline, write_library, tmp_path, mode, between
) -> None:
    """The results as JSON text (the frame's kept as text where nothing merges into it): the
    same merged meta at every output as with Python objects."""
    lib = write_library(CHAIN_LIB)
    jsonl = tmp_path / "meta.jsonl"
    signals: dict[str, list[dict]] = {}
    result = pipeline(
        chain_description(lib, mode, between, jsonl),
        configure=configure_chain({"a": "a", "b": "nothing", "c": "c"}, signals, as_text=True),
        keep_buffers=True,
    )
    check_chain(result, signals, jsonl.read_text().splitlines())


def test_one_dict_is_the_frame_result_with_0_and_3_objects(pipeline, write_library) -> None:
    lib = write_library(
        """
        def process_ip(buffer, in_meta, options, events):
            return '{"objects": %d}' % len(in_meta["frame"][0]["object"])
        """
    )
    with_faces = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 1)} ! empycustom name=e custom-lib={lib} in-place=true "
        "! appsink name=sink"
    )
    without = pipeline(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=64,height=48 ! "
        f"empycustom name=e custom-lib={lib} in-place=true ! appsink name=sink"
    )
    for result, count in ((with_faces, 3), (without, 0)):
        assert result.eos, result.error_texts
        (frame,) = result.frames
        objects = frame.meta["frame"][0]["object"]
        assert len(objects) == count
        assert frame.meta["frame"][0]["emcustom"] == {"objects": count}
        assert all("emcustom" not in o for o in objects)

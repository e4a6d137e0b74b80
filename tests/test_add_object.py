"""Objects created and removed from Python: empycustom.add_object() and remove_object().

Checked where users look: a downstream empycustom's in_meta, aimeta, and the ROI metas every
GStreamer element sees, counted in a pad probe; in place and not in place.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pipeline import ASTRONAUT_FACES, faces_source

import empycustom
from empycustom.gst.runtime import Gst, GstVideo
from empycustom.meta import editing, objects

ROI_API = GstVideo.VideoRegionOfInterestMeta.get_info().api

# Removes the second face, adds a person around the first face and makes that face its child,
# adds a "hat" inside the person; one result per object now in in_meta, then one for the frame.
EDITING_LIB = """
import empycustom

def process_ip(buffer, in_meta, options, events):
    return edit(in_meta)

def process(buffer, in_meta, options, events):
    return buffer, edit(in_meta)

def edit(in_meta):
    faces = in_meta["frame"][0]["object"]
    removed = faces[1]
    empycustom.remove_object(in_meta, removed)
    face = faces[0]
    r = face["rect_params"]
    person = empycustom.add_object(
        in_meta, "person", (r["left"], r["top"], r["width"], 2 * r["height"]),
        confidence=0.75, class_id=3)
    hat = empycustom.add_object(in_meta, "hat", [r["left"], r["top"], r["width"], 10.4],
                                parent=person)
    child = empycustom.add_object(in_meta, "face", (1, 2, 3, 4), parent=faces[0])
    objects = in_meta["frame"][0]["object"]
    assert objects[-3:] == [person, hat, child]
    return [{"n": i, "label": o["obj_label"]} for i, o in enumerate(objects)] + [
        {"objects": len(objects), "removed": removed["rect_params"]}]
"""

ECHO_LIB = """
def process_ip(buffer, in_meta, options, events):
    return [{"saw_id": o["object_id"], "saw_parent": o["parent_id"]}
            for o in in_meta["frame"][0]["object"]]
"""


def count_rois(counts: list[int]):
    """A configure callback: a pad probe on aimeta's sink pad counts each buffer's ROI metas."""

    def configure(pipeline: Gst.Pipeline) -> None:
        def probe(_pad, info):
            counts.append(info.get_buffer().get_n_meta(ROI_API))
            return Gst.PadProbeReturn.OK

        pad = pipeline.get_by_name("m").get_static_pad("sink")
        pad.add_probe(Gst.PadProbeType.BUFFER, probe)

    return configure


@pytest.mark.parametrize(
    "mode",
    [
        "in-place=true",
        "in-place=false",
        "in-place=true workers=2",
        # Made in worker processes, recorded there and written by the element.
        "in-place=true workers=2 worker-kind=process",
        "in-place=false workers=2 worker-kind=process",
    ],
)
def test_objects_created_removed_and_parented_reach_downstream(
    pipeline, write_library, tmp_path, mode
) -> None:
    editor = write_library(EDITING_LIB)
    echo = write_library(ECHO_LIB)
    jsonl = tmp_path / "meta.jsonl"
    counts: list[int] = []
    result = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 2)} ! empycustom name=edit custom-lib={editor} {mode} "
        f"labels=background,face ! queue ! videoconvert ! video/x-raw,format=I420 ! "
        f"empycustom name=e custom-lib={echo} in-place=true labels=background,face ! "
        f"aimeta name=m location={jsonl} ! appsink name=sink",
        configure=count_rois(counts),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    assert not result.warnings, result.warning_texts
    assert counts == [5, 5]  # 3 faces - 1 + person + hat + child face
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == 2
    for frame, signal, line in zip(result.frames, result.signals, lines, strict=True):
        assert frame.meta == signal == line
        got = signal["frame"][0]["object"]
        labels = [o["obj_label"] for o in got]
        assert labels == ["face", "face", "person", "hat", "face"]
        first, third, person, hat, child = got
        # Fresh unique ids; the first face was given one to be a parent.
        ids = [o["object_id"] for o in got]
        assert ids[1] == 0 and len(set(ids[0:1] + ids[2:])) == 4 and 0 not in ids[2:]
        assert person["parent_id"] == 0
        assert hat["parent_id"] == person["object_id"]
        assert child["parent_id"] == first["object_id"]
        # class_id and confidence crossed the format-changing videoconvert (params dropped).
        assert (person["class_id"], person["confidence"]) == (3, 0.75)
        assert (hat["class_id"], hat["confidence"]) == (-1, -1.0)
        assert child["class_id"] == 1  # labels=background,face
        assert hat["rect_params"]["height"] == 10  # rounded to whole pixels
        # The editor's results, in the reference layout, with the echo's merged in.
        for index, obj in enumerate(got):
            assert obj["emcustom"] == {
                "n": index, "label": obj["obj_label"], "saw_id": obj["object_id"],
                "saw_parent": obj["parent_id"],
            }  # fmt: skip
        removed = signal["frame"][0]["emcustom"].pop("removed")
        assert signal["frame"][0]["emcustom"] == {"objects": 5}
        # The ROI metas every element sees.
        rois, _ = objects.read_objects(frame.buffer, {})
        assert [(o["obj_label"], o["object_id"], o["parent_id"]) for o in rois] == [
            (o["obj_label"], o["object_id"], o["parent_id"]) for o in got
        ]
        assert [o["params"]["emcustom"] for o in rois] == [o["emcustom"] for o in got]
        assert removed not in [o["rect_params"] for o in rois]
        assert (
            removed["width"] > 50
            and len({first["rect_params"]["left"], third["rect_params"]["left"], removed["left"]})
            == 3
        )
    # The editing element's own meta: the face it removed is gone.
    edited = json.loads(result.pipeline.get_by_name("edit").get_property("last-meta"))
    assert [o["obj_label"] for o in edited["frame"][0]["object"]] == labels


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("add_object(in_meta, 'x', (0, 0, -1, 5))", "box width is -1: a negative size"),
        ("add_object(in_meta, 'x', (-3, 0, 1, 5))", "box left is -3: a negative position"),
        ("add_object(in_meta, 'x', ('a', 0, 1, 5))", "box left must be a number"),
        ("add_object(in_meta, 'x', (0, 0, 1))", "box must be 4 numbers"),
        ("add_object(in_meta, 'x', 5)", "box must be (left, top, width, height)"),
        ("add_object(in_meta, 'x', (0, 0, float('nan'), 1))", "box width must be finite"),
        ("add_object(in_meta, '', (0, 0, 1, 1))", "label must be a non-empty str"),
        ("add_object(in_meta, 'x', (0, 0, 1, 1), confidence='high')", "confidence must be a"),
        ("add_object(in_meta, 'x', (0, 0, 1, 1), class_id=1.5)", "class_id must be an int"),
        ("add_object(in_meta, 'x', (0, 0, 1, 1), parent={'object_id': 1})", "parent is not"),
        ("add_object(dict(in_meta), 'x', (0, 0, 1, 1))", "needs the in_meta of the frame"),
        ("remove_object(in_meta, {'object_id': 0})", "obj is not an object of this"),
        ("add_object(KEPT[0], 'x', (0, 0, 1, 1))", "needs the in_meta of the frame"),
    ],
)
def test_bad_arguments_raise_value_error_through_on_error(
    pipeline, write_library, call: str, message: str
) -> None:
    lib = write_library(
        f"""
        from empycustom import add_object, remove_object
        KEPT = []

        def process_ip(buffer, in_meta, options, events):
            if not KEPT:
                KEPT.append(in_meta)  # a frame that was processed before
                return ""
            {call}
        """
    )
    result = pipeline(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=24 ! "
        f"empycustom name=e custom-lib={lib} in-place=true on-error=warn ! appsink name=sink",
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    (warning,) = result.warnings
    assert "raised ValueError" in warning[0] and message in warning[0], warning
    assert "Traceback" in warning[1]
    # The failing frame passed without any ROI meta.
    assert [frame.buffer.get_n_meta(ROI_API) for frame in result.frames] == [0, 0]


def test_only_while_a_frame_is_open() -> None:
    buffer = Gst.Buffer.new_allocate(None, 16, None)
    in_meta = {"frame": [{"object": []}]}
    with pytest.raises(ValueError, match="needs the in_meta of the frame being processed"):
        empycustom.add_object(in_meta, "x", (0, 0, 1, 1))
    rois: list[int | None] = []
    editing.open_frame(in_meta, buffer, rois, {"x": 4})
    try:
        made = empycustom.add_object(in_meta, "x", np.array([1.6, 2, 3, 4]), confidence=0.5)
        assert made == {
            "object_id": 1, "parent_id": 0, "class_id": 4, "obj_label": "x", "confidence": 0.5,
            "rect_params": {"left": 2, "top": 2, "width": 3, "height": 4},
            "params": {"detection": {"confidence": 0.5}},
        }  # fmt: skip
        found, addresses = objects.read_objects(buffer, {"x": 4})
        assert found == [made] and addresses == rois
        empycustom.remove_object(in_meta, made)
        assert in_meta["frame"][0]["object"] == [] and rois == []
        assert buffer.get_n_meta(ROI_API) == 0
    finally:
        editing.close_frame(in_meta)
    with pytest.raises(ValueError, match="needs the in_meta"):
        empycustom.add_object(in_meta, "x", (0, 0, 1, 1))


# process_batch(): each frame's entry of in_meta["frame"] stands for that frame's in_meta.
BATCH_EDITING_LIB = """
import empycustom

def process_batch(buffers, in_meta, options, events):
    results = []
    for frame in in_meta["frame"]:
        faces = frame["object"]
        empycustom.remove_object(frame, faces[2])
        empycustom.add_object(frame, "hat", (1, 2, 3, 4), parent=faces[0])
        results.append([{"n": i} for i in range(len(frame["object"]))])
    return [result + [{"batch": len(buffers)}] for result in results]
"""


@pytest.mark.parametrize(
    "settings", ["batch-size=2", "batch-size=2 workers=2 worker-kind=process"]
)
def test_objects_created_and_removed_in_batches(pipeline, write_library, settings) -> None:
    lib = write_library(BATCH_EDITING_LIB)
    counts: list[int] = []
    result = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 4)} ! empycustom name=e custom-lib={lib} in-place=true "
        f"{settings} ! aimeta name=m ! appsink name=sink",
        configure=count_rois(counts),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    assert counts == [3, 3, 3, 3]  # 3 faces - 1 + the hat
    for frame in result.frames:
        got = frame.meta["frame"][0]["object"]
        assert [o["obj_label"] for o in got] == ["face", "face", "hat"]
        assert got[2]["parent_id"] == got[0]["object_id"] != 0
        assert [o["emcustom"] for o in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert frame.meta["frame"][0]["emcustom"] == {"batch": 2}
        rois, _ = objects.read_objects(frame.buffer, {})
        assert [(o["obj_label"], o["object_id"], o["parent_id"]) for o in rois] == [
            (o["obj_label"], o["object_id"], o["parent_id"]) for o in got
        ]

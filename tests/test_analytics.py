"""GstAnalytics in and out: object-detection entries as in_meta objects, results as entries.

The rules (which entry is which object, what a result says) are checked with plain data on every
release; reading and writing relation metas needs GStreamer >= 1.24 (Debian 13), and those tests
skip on 1.22 saying so.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipeline import PipelineResult

from empycustom.gst.runtime import GLib, Gst, GstVideo
from empycustom.meta import analytics

GstAnalytics = analytics.GstAnalytics
needs_analytics = pytest.mark.skipif(
    GstAnalytics is None,
    reason=f"GstAnalytics needs GStreamer >= 1.24; this is {Gst.version_string()}",
)

WIDTH, HEIGHT = 64, 48
RAW_CAPS = f"video/x-raw,format=RGBA,width={WIDTH},height={HEIGHT},framerate=30/1"

ECHO_LIB = """
import json

def process_ip(buffer, in_meta, options, events):
    return [{"seen": json.loads(json.dumps(obj))} for obj in in_meta["frame"][0]["object"]]

def process(buffer, in_meta, options, events):
    return buffer, process_ip(buffer, in_meta, options, events)
"""


def roi_object(label: str, box: tuple[int, int, int, int], **fields: Any) -> dict[str, Any]:
    left, top, width, height = box
    return {
        "object_id": 0, "parent_id": 0, "class_id": -1, "obj_label": label, "confidence": -1.0,
        "rect_params": {"left": left, "top": top, "width": width, "height": height},
        "params": {}, **fields,
    }  # fmt: skip


def entry(
    entry_id: int, label: str, box: tuple[int, int, int, int], **fields: Any
) -> dict[str, Any]:
    left, top, width, height = box
    return {
        "id": entry_id, "obj_label": label, "confidence": 0.5,
        "rect_params": {"left": left, "top": top, "width": width, "height": height},
        "parent_id": -1, "class_id": -1, "classification": [], "tracking": None, **fields,
    }  # fmt: skip


# Plain rules, every release


@pytest.mark.parametrize(
    "result, named",
    [
        ({"label": "smile", "confidence": 0.75}, ("smile", 0.75)),
        ({"label": "smile", "confidence": 1, "other": [1]}, ("smile", 1.0)),
        ({"label": "smile"}, None),
        ({"label": "", "confidence": 0.5}, None),
        ({"label": 3, "confidence": 0.5}, None),
        ({"label": "smile", "confidence": "high"}, None),
        ({"label": "smile", "confidence": True}, None),
        ({"mean": 0.5}, None),
        (["smile", 0.5], None),
        (None, None),
    ],
)
def test_a_result_names_a_class_with_a_label_and_a_confidence(result, named) -> None:
    assert analytics.names_a_class(result) == named


def test_an_entry_describing_a_roi_object_completes_it_instead_of_adding_one() -> None:
    face = roi_object("face", (1, 2, 10, 10), params={"detection": {"confidence": 0.9}})
    other_face = roi_object("face", (20, 2, 10, 10))
    objects = [face, other_face]
    classes = [{"label": "smiling", "confidence": 0.8, "class_id": 1}]
    tracking = {"tracking_id": 7, "first_seen": 0, "last_seen": 5, "lost": False}
    entries = [
        entry(0, "face", (1, 2, 10, 10), classification=classes, tracking=tracking),
        entry(1, "car", (30, 30, 8, 4)),
        entry(2, "face", (20, 2, 10, 11)),  # another box: another object
    ]
    assert analytics.pair_entries(objects, entries) == [0, None]
    analytics.merge_entries(objects, entries, {"face": 1, "car": 2})
    assert len(objects) == 4
    assert objects[0] is face and objects[1] is other_face
    assert face["params"] == {
        "detection": {"confidence": 0.9},
        "classification": classes,
        "tracking": tracking,
    }
    assert other_face["params"] == {}
    assert objects[2] == {
        "object_id": 1, "parent_id": -1, "class_id": 2, "obj_label": "car", "confidence": 0.5,
        "rect_params": {"left": 30, "top": 30, "width": 8, "height": 4}, "params": {},
    }  # fmt: skip
    assert objects[3]["rect_params"]["height"] == 11


def test_rois_sharing_label_and_box_pair_with_entries_one_to_one() -> None:
    objects = [roi_object("face", (0, 0, 4, 4)), roi_object("face", (0, 0, 4, 4))]
    entries = [entry(3, "face", (0, 0, 4, 4)), entry(5, "face", (0, 0, 4, 4))]
    entries.append(entry(6, "face", (0, 0, 4, 4)))
    assert analytics.pair_entries(objects, entries) == [0, 1]
    analytics.merge_entries(objects, entries, {})
    assert [obj["object_id"] for obj in objects] == [0, 0, 6]
    assert analytics.pair_entries(objects, entries) == [0, 1, 2]


def test_an_entry_class_id_comes_from_its_classification_else_the_labels_property() -> None:
    objects: list[dict[str, Any]] = []
    entries = [entry(0, "car", (0, 0, 1, 1), class_id=4), entry(1, "car", (1, 0, 1, 1))]
    entries.append(entry(2, "bus", (2, 0, 1, 1)))
    analytics.merge_entries(objects, entries, {"car": 1})
    assert [obj["class_id"] for obj in objects] == [4, 1, -1]


def test_without_gstreamer_1_24_nothing_is_read_or_written() -> None:
    if GstAnalytics is not None:
        pytest.skip(f"GstAnalytics is available with {Gst.version_string()}")
    assert "GStreamer >= 1.24" in analytics.unavailable()
    objects = [roi_object("face", (0, 0, 4, 4))]
    buffer = Gst.Buffer.new_allocate(None, 16, None)
    analytics.read_objects(buffer, objects, {})
    assert len(objects) == 1
    assert analytics.write_object(buffer, objects[0], {"label": "a", "confidence": 1.0}) is None
    analytics.write_results(buffer, objects, [{"label": "a", "confidence": 1.0}])


def test_the_element_says_once_at_start_that_gstreamer_1_22_has_no_analytics(
    gst_launch, write_library
) -> None:
    if GstAnalytics is not None:
        pytest.skip(f"GstAnalytics is available with {Gst.version_string()}: it is used")
    lib = write_library(ECHO_LIB)
    completed = gst_launch(
        f"videotestsrc num-buffers=2 ! video/x-raw,format=RGBA ! empycustom custom-lib={lib} "
        "in-place=true ! fakesink".split(),
        env={"GST_DEBUG": "empycustom:4", "GST_DEBUG_NO_COLOR": "1"},
    )
    assert completed.returncode == 0, completed.stderr
    said = [line for line in completed.stderr.splitlines() if "GStreamer >= 1.24" in line]
    assert len(said) == 1 and " INFO " in said[0]


# Relation metas, GStreamer >= 1.24


def quark(text: str) -> int:
    return GLib.quark_from_string(text)


def frame_buffer(pts: int = 0) -> Gst.Buffer:
    buffer = Gst.Buffer.new_allocate(None, WIDTH * HEIGHT * 4, None)
    buffer.memset(0, 0x40, WIDTH * HEIGHT * 4)
    buffer.pts = pts
    buffer.duration = Gst.SECOND // 30
    return buffer


def add_detection(
    relation: Any,
    label: str,
    box: tuple[int, int, int, int],
    confidence: float,
    classes: list[tuple[str, float]] | None = None,
    tracking_id: int | None = None,
) -> int:
    """An OD entry, a classification (all classes with their levels) and a tracking entry."""
    added, detection = relation.add_od_mtd(quark(label), *box, confidence)
    assert added
    if classes:
        levels = [level for _, level in classes]
        added, classification = relation.add_cls_mtd(levels, [quark(name) for name, _ in classes])
        assert added
        relation.set_relation(GstAnalytics.RelTypes.RELATE_TO, detection.id, classification.id)
    if tracking_id is not None:
        added, tracking = relation.add_tracking_mtd(tracking_id, 1000)
        assert added
        relation.set_relation(GstAnalytics.RelTypes.RELATE_TO, detection.id, tracking.id)
    return detection.id


def dl_streamer_buffer(pts: int = 0) -> Gst.Buffer:
    """Two people written as DL Streamer does (a ROI meta with a detection param and an OD entry
    with the same id, label and box, classified and tracked), and a bag as an OD entry only."""
    buffer = frame_buffer(pts)
    relation = GstAnalytics.buffer_add_analytics_relation_meta(buffer)
    people = [((4, 6, 20, 30), 0.875, 11), ((30, 4, 16, 40), 0.625, 12)]
    for box, confidence, tracking_id in people:
        entry_id = add_detection(
            relation, "person", box, confidence,
            classes=[("background", 0.0), ("person", confidence)], tracking_id=tracking_id,
        )  # fmt: skip
        roi = GstVideo.buffer_add_video_region_of_interest_meta(buffer, "person", *box)
        roi.id = entry_id
        roi.add_param(
            Gst.Structure.new_from_string(
                f"detection, label_id=(uint)1, confidence=(double){confidence}"
            )
        )
    add_detection(relation, "bag", (50, 30, 10, 12), 0.5)
    return buffer


def push(buffers: list[Gst.Buffer]):
    def configure(pipeline: Gst.Pipeline) -> None:
        source = pipeline.get_by_name("src")
        for buffer in buffers:
            assert source.emit("push-buffer", buffer) == Gst.FlowReturn.OK
        source.emit("end-of-stream")

    return configure


def run_appsrc(pipeline, elements: str, buffers: list[Gst.Buffer]) -> PipelineResult:
    result = pipeline(
        f"appsrc name=src caps={RAW_CAPS} format=time ! {elements} ! appsink name=sink",
        configure=push(buffers),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    assert not result.warnings, result.warning_texts
    return result


@needs_analytics
def test_entries_of_a_relation_meta_are_read_with_their_relations() -> None:
    buffer = frame_buffer()
    relation = GstAnalytics.buffer_add_analytics_relation_meta(buffer)
    car = add_detection(
        relation, "car", (1, 2, 30, 20), 0.75,
        classes=[("bus", 0.125), ("car", 0.75), ("van", 0.125)], tracking_id=42,
    )  # fmt: skip
    added, wheel = relation.add_od_mtd(quark("wheel"), 3, 15, 6, 6, 0.5)
    relation.set_relation(GstAnalytics.RelTypes.IS_PART_OF, wheel.id, car)
    assert analytics.read_entries(buffer) == [
        {
            "id": car, "obj_label": "car", "confidence": 0.75,
            "rect_params": {"left": 1, "top": 2, "width": 30, "height": 20},
            "parent_id": -1, "class_id": 1,
            "classification": [{"label": "car", "confidence": 0.75, "class_id": 1}],
            "tracking": {"tracking_id": 42, "first_seen": 1000, "last_seen": 1000, "lost": False},
        },
        {
            "id": wheel.id, "obj_label": "wheel", "confidence": 0.5,
            "rect_params": {"left": 3, "top": 15, "width": 6, "height": 6},
            "parent_id": car, "class_id": -1, "classification": [], "tracking": None,
        },
    ]  # fmt: skip
    assert analytics.read_entries(frame_buffer()) == []


@needs_analytics
@pytest.mark.parametrize("in_place", ["true", "false"])
def test_a_dl_streamer_style_input_shows_each_object_once(pipeline, write_library, in_place):
    lib = write_library(ECHO_LIB)
    result = run_appsrc(
        pipeline,
        f"empycustom name=e custom-lib={lib} in-place={in_place} labels=background,person,bag ! "
        f"empycustom name=second custom-lib={lib} in-place={in_place}",
        [dl_streamer_buffer(0), dl_streamer_buffer(Gst.SECOND // 30)],
    )
    assert len(result.signals) == 2
    for signal in result.signals:
        people_and_bag = signal["frame"][0]["object"]
        assert [(o["obj_label"], o["class_id"], o["confidence"]) for o in people_and_bag] == [
            ("person", 1, 0.875), ("person", 1, 0.625), ("bag", 2, 0.5),
        ]  # fmt: skip
        first = people_and_bag[0]
        assert first["rect_params"] == {"left": 4, "top": 6, "width": 20, "height": 30}
        assert first["params"]["detection"] == {"label_id": 1, "confidence": 0.875}
        assert first["params"]["classification"] == [
            {"label": "person", "confidence": 0.875, "class_id": 1}
        ]
        assert first["params"]["tracking"]["tracking_id"] == 11
        assert people_and_bag[1]["params"]["tracking"]["tracking_id"] == 12
        assert "tracking" not in people_and_bag[2]["params"]
    # The second element sees the same three objects, each once, with the first one's results.
    for frame in result.frames:
        objects = frame.meta["frame"][0]["object"]
        assert [o["obj_label"] for o in objects] == ["person", "person", "bag"]
        assert [o["emcustom"]["seen"]["obj_label"] for o in objects] == ["person", "person", "bag"]
        assert objects[0]["params"]["emcustom"]["seen"]["params"]["tracking"]["tracking_id"] == 11
        assert len(analytics.read_entries(frame.buffer)) == 3  # no entry added for known ones


CLASSIFY_LIB = """
def process_ip(buffer, in_meta, options, events):
    objects = in_meta["frame"][0]["object"]
    results = [{"label": "smiling", "confidence": 0.75}, {}, {"mean": 3.5}]
    return results[: len(objects)] + [{"frame": True}]

def process(buffer, in_meta, options, events):
    return buffer, process_ip(buffer, in_meta, options, events)
"""

# Looks without writing a result.
LOOK_LIB = """
def process_ip(buffer, in_meta, options, events):
    return []

def process(buffer, in_meta, options, events):
    return buffer, []
"""


def face_rois(pts: int = 0) -> Gst.Buffer:
    """Three faces as ROI metas only, all with id 0, as opencv's facedetect writes them."""
    buffer = frame_buffer(pts)
    for box in ((2, 2, 10, 10), (20, 2, 10, 10), (40, 2, 10, 10)):
        GstVideo.buffer_add_video_region_of_interest_meta(buffer, "face", *box)
    return buffer


@needs_analytics
@pytest.mark.parametrize("in_place", ["true", "false"])
def test_results_reach_analytics_readers_as_entries_and_classifications(
    pipeline, write_library, in_place
):
    classify, look = write_library(CLASSIFY_LIB), write_library(LOOK_LIB, name="look.py")
    result = run_appsrc(
        pipeline,
        f"empycustom custom-lib={classify} in-place={in_place} ! "
        f"empycustom name=e custom-lib={look} in-place={in_place}",
        [face_rois(0), face_rois(Gst.SECOND // 30)],
    )
    for frame in result.frames:
        # The classified face and the one with a result got entries; {} wrote nothing.
        entries = analytics.read_entries(frame.buffer)
        assert [(e["obj_label"], e["rect_params"]["left"]) for e in entries] == [
            ("face", 2), ("face", 40),
        ]  # fmt: skip
        assert entries[0]["classification"] == [
            {"label": "smiling", "confidence": 0.75, "class_id": 0}
        ]
        assert entries[1]["classification"] == []
        assert entries[0]["confidence"] == -1.0  # the ROI's: unknown
    for signal in result.signals:
        # The next element sees three faces, once each, the first one classified.
        faces = signal["frame"][0]["object"]
        assert len(faces) == 3
        assert faces[0]["params"]["classification"][0]["label"] == "smiling"
        assert "classification" not in faces[1]["params"]


@needs_analytics
def test_a_result_classifies_an_entry_the_detector_wrote(pipeline, write_library):
    buffer = frame_buffer()
    relation = GstAnalytics.buffer_add_analytics_relation_meta(buffer)
    add_detection(relation, "car", (1, 2, 30, 20), 0.75)
    lib = write_library(CLASSIFY_LIB)
    result = run_appsrc(pipeline, f"empycustom name=e custom-lib={lib} in-place=true", [buffer])
    entries = analytics.read_entries(result.frames[0].buffer)
    assert len(entries) == 1  # the detector's entry, not a second one
    assert entries[0]["classification"] == [
        {"label": "smiling", "confidence": 0.75, "class_id": 0}
    ]


@needs_analytics
def test_write_object_adds_an_entry_that_results_then_classify() -> None:
    buffer = frame_buffer()
    obj = roi_object("person", (3, 4, 5, 6), confidence=0.5)
    entry_id = analytics.write_object(buffer, obj)
    analytics.write_results(buffer, [obj], [{"label": "walking", "confidence": 0.25}])
    (written,) = analytics.read_entries(buffer)
    assert written["id"] == entry_id
    assert (written["obj_label"], written["confidence"]) == ("person", 0.5)
    assert written["rect_params"] == obj["rect_params"]
    assert written["classification"] == [{"label": "walking", "confidence": 0.25, "class_id": 0}]


CREATE_LIB = """
import empycustom

def process_ip(buffer, in_meta, options, events):
    objects = in_meta["frame"][0]["object"]
    hat = empycustom.add_object(in_meta, "hat", (5, 1, 8, 4), confidence=0.5)
    return [{} for _ in objects[:-1]] + [{"label": "red", "confidence": 0.625}]
"""


@needs_analytics
def test_created_objects_become_entries_classified_by_their_result(pipeline, write_library):
    create, echo = write_library(CREATE_LIB), write_library(ECHO_LIB, name="echo.py")
    result = run_appsrc(
        pipeline,
        f"empycustom custom-lib={create} in-place=true ! "
        f"empycustom name=e custom-lib={echo} in-place=true",
        [face_rois(0)],
    )
    entries = analytics.read_entries(result.frames[0].buffer)
    hats = [e for e in entries if e["obj_label"] == "hat"]
    assert len(hats) == 1
    assert hats[0]["rect_params"] == {"left": 5, "top": 1, "width": 8, "height": 4}
    assert hats[0]["confidence"] == 0.5
    assert hats[0]["classification"] == [{"label": "red", "confidence": 0.625, "class_id": 0}]
    # The next element sees the three faces and the hat, each once.
    (signal,) = result.signals
    seen = signal["frame"][0]["object"]
    assert [o["obj_label"] for o in seen] == ["face", "face", "face", "hat"]
    assert seen[3]["params"]["classification"][0]["label"] == "red"


REMOVE_LIB = """
import empycustom

def process_ip(buffer, in_meta, options, events):
    objects = in_meta["frame"][0]["object"]
    empycustom.remove_object(in_meta, objects[0])  # a person: ROI meta and entry
    hat = empycustom.add_object(in_meta, "hat", (5, 1, 8, 4))
    empycustom.remove_object(in_meta, hat)  # created and removed: no trace
    return []

def process(buffer, in_meta, options, events):
    return buffer, process_ip(buffer, in_meta, options, events)
"""


@needs_analytics
@pytest.mark.parametrize("in_place", ["true", "false"])
def test_a_removed_object_leaves_no_entry(pipeline, write_library, in_place):
    remove, echo = write_library(REMOVE_LIB), write_library(ECHO_LIB, name="echo.py")
    result = run_appsrc(
        pipeline,
        f"empycustom custom-lib={remove} in-place={in_place} ! "
        f"empycustom name=e custom-lib={echo} in-place={in_place}",
        [dl_streamer_buffer(0)],
    )
    entries = analytics.read_entries(result.frames[0].buffer)
    assert [(e["obj_label"], e["rect_params"]["left"]) for e in entries] == [
        ("person", 30), ("bag", 50),
    ]  # fmt: skip
    # The other person keeps its classification and tracking; the removed one's went with it.
    assert entries[0]["tracking"]["tracking_id"] == 12
    assert entries[0]["classification"] == [
        {"label": "person", "confidence": 0.625, "class_id": 1}
    ]
    (signal,) = result.signals
    assert [o["obj_label"] for o in signal["frame"][0]["object"]] == ["person", "bag"]


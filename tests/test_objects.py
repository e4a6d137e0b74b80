"""Objects in, per-object meta out: ROI metas become in_meta objects, results go back as params."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pipeline import ASTRONAUT, ASTRONAUT_FACES, PipelineResult, faces_source

import empycustom
from empycustom.gst.runtime import Gst, GstVideo
from empycustom.meta import analytics, objects

WIDTH, HEIGHT = 64, 48
RAW_CAPS = f"video/x-raw,format=RGBA,width={WIDTH},height={HEIGHT},framerate=30/1"

# Per face: the average RGB intensity inside its rectangle, computed from the mapped frame with
# the stride in_meta gives, like the reference's "Average Intensity" example.
AVERAGE_INTENSITY_LIB = """
import numpy as np
from gi.repository import Gst

def means(data, frame):
    height, width, stride = frame["height"], frame["width"], frame["planes"][0]["stride"]
    rows = np.frombuffer(data, np.uint8, count=height * stride).reshape(height, stride)
    image = rows[:, : width * 4].reshape(height, width, 4)
    results = []
    for obj in frame["object"]:
        r = obj["rect_params"]
        crop = image[r["top"] : r["top"] + r["height"], r["left"] : r["left"] + r["width"], :3]
        mean = float(crop.mean()) if crop.size else None
        results.append({"label": obj["obj_label"], "mean": mean})
    return results

def process_ip(buffer, in_meta, options, events):
    frame = in_meta["frame"][0]
    with buffer.map(Gst.MapFlags.READ) as info:
        results = means(info.data, frame)
    return results + [{"faces": len(frame["object"])}]
"""

# Echoes what the library received for each object, so tests see it unchanged in the result.
ECHO_LIB = """
def process_ip(buffer, in_meta, options, events):
    return [{"index": i, "rect": obj["rect_params"], "seen_params": obj["params"]}
            for i, obj in enumerate(in_meta["frame"][0]["object"])]
"""


# Building buffers with ROI metas


def roi_buffer(rois: list[tuple], pts: int = 0) -> Gst.Buffer:
    """A blank RGBA frame with one ROI meta per (type, x, y, w, h[, id[, params]])."""
    buffer = Gst.Buffer.new_allocate(None, WIDTH * HEIGHT * 4, None)
    buffer.memset(0, 0x40, WIDTH * HEIGHT * 4)
    buffer.pts = pts
    buffer.duration = Gst.SECOND // 30
    for roi_type, x, y, w, h, *extra in rois:
        meta = GstVideo.buffer_add_video_region_of_interest_meta(buffer, roi_type, x, y, w, h)
        if extra:
            meta.id = extra[0]
        for param in extra[1:]:
            meta.add_param(Gst.Structure.new_from_string(param))
    return buffer


def push_frames(frames: list[list[tuple]]):
    """A run_pipeline `configure` callback: the appsrc named "src" gets these frames, then EOS."""

    def configure(pipeline: Gst.Pipeline) -> None:
        source = pipeline.get_by_name("src")
        for index, rois in enumerate(frames):
            assert source.emit("push-buffer", roi_buffer(rois, index * Gst.SECOND // 30)) == (
                Gst.FlowReturn.OK
            )
        source.emit("end-of-stream")

    return configure


def appsrc_pipeline(elements: str) -> str:
    return f"appsrc name=src caps={RAW_CAPS} format=time ! {elements} ! appsink name=sink"


def roi_params(buffer: Gst.Buffer) -> list[dict[str, Any]]:
    return [obj["params"] for obj in objects.read_objects(buffer, {})[0]]


def result_param(buffer: Gst.Buffer, roi_id: int) -> Any:
    """The emcustom param of the ROI with `roi_id`, read through GI rather than our ctypes code."""
    param = GstVideo.buffer_get_video_region_of_interest_meta_id(buffer, roi_id).get_param(
        "emcustom"
    )
    return None if param is None else json.loads(param.get_string("json"))


# Reading ROI metas into objects


def test_every_roi_becomes_an_object_in_order() -> None:
    buffer = roi_buffer([("face", 1, 2, 3, 4), ("face", 5, 6, 7, 8), ("car", 9, 10, 11, 12, 7)])
    found, rois = objects.read_objects(buffer, {})
    assert found == [
        {
            "object_id": 0,
            "parent_id": 0,
            "class_id": -1,
            "obj_label": "face",
            "confidence": -1.0,
            "rect_params": {"left": 1, "top": 2, "width": 3, "height": 4},
            "params": {},
        },
        {
            "object_id": 0,
            "parent_id": 0,
            "class_id": -1,
            "obj_label": "face",
            "confidence": -1.0,
            "rect_params": {"left": 5, "top": 6, "width": 7, "height": 8},
            "params": {},
        },
        {
            "object_id": 7,
            "parent_id": 0,
            "class_id": -1,
            "obj_label": "car",
            "confidence": -1.0,
            "rect_params": {"left": 9, "top": 10, "width": 11, "height": 12},
            "params": {},
        },
    ]
    assert len(rois) == 3 and all(rois)
    assert objects.read_objects(roi_buffer([]), {}) == ([], [])


def test_detection_param_gives_class_id_and_confidence() -> None:
    buffer = roi_buffer(
        [
            ("person", 0, 0, 10, 10, 1, "detection, label_id=(uint)4, confidence=(double)0.875"),
            ("person", 0, 0, 10, 10, 2),
            ("dog", 0, 0, 10, 10, 3),
        ]
    )
    found, _ = objects.read_objects(buffer, objects.parse_labels("background, person"))
    assert [(o["class_id"], o["confidence"]) for o in found] == [(4, 0.875), (1, -1.0), (-1, -1.0)]
    assert found[0]["params"] == {"detection": {"label_id": 4, "confidence": 0.875}}


def test_labels_property_parsing() -> None:
    assert objects.parse_labels(None) == {}
    assert objects.parse_labels("") == {}
    assert objects.parse_labels("face") == {"face": 0}
    assert objects.parse_labels(" bg , face,,car, face") == {"bg": 0, "face": 1, "car": 3}


def test_param_structures_become_nested_plain_data() -> None:
    buffer = roi_buffer(
        [
            (
                "face",
                0,
                0,
                8,
                8,
                1,
                'roi/x264enc, delta-qp=(int)-5, on=(boolean)true, name=(string)"a b", '
                "rate=(fraction)30/1, big=(guint64)18446744073709551615, f=(float)0.5",
                'nested, inner=(structure)"inner\\,\\ n\\=\\(int\\)3\\;", '
                "values=(int)<1, 2, 3>, choices=(string){ a, b }",
            )
        ]
    )
    (obj,), _ = objects.read_objects(buffer, {})
    assert obj["params"] == {
        "roi/x264enc": {
            "delta-qp": -5,
            "on": True,
            "name": "a b",
            "rate": "30/1",
            "big": 18446744073709551615,
            "f": 0.5,
        },
        "nested": {"inner": {"n": 3}, "values": [1, 2, 3], "choices": ["a", "b"]},
    }
    json.dumps(obj)  # plain data only


def test_results_go_to_the_rois_as_emcustom_params() -> None:
    buffer = roi_buffer([("face", 0, 0, 4, 4, 1), ("face", 4, 4, 4, 4, 2), ("face", 8, 8, 4, 4, 3)])
    _, rois = objects.read_objects(buffer, {})
    objects.write_results(rois, [{"mean": 1.5}, {}, [1, "x"], {"frame": True}])
    assert result_param(buffer, 1) == {"mean": 1.5}
    assert result_param(buffer, 2) is None  # {} means nothing for this object
    assert result_param(buffer, 3) == [1, "x"]
    # Read back the way a second empycustom sees them.
    assert roi_params(buffer) == [{"emcustom": {"mean": 1.5}}, {}, {"emcustom": [1, "x"]}]


def test_a_newer_result_replaces_the_older_param() -> None:
    buffer = roi_buffer([("face", 0, 0, 4, 4, 1)])
    _, rois = objects.read_objects(buffer, {})
    objects.write_results(rois, [{"stage": 1}])
    objects.write_results(rois, [{"stage": 2}])
    assert result_param(buffer, 1) == {"stage": 2}
    assert roi_params(buffer) == [{"emcustom": {"stage": 2}}]


def test_a_foreign_emcustom_param_is_shown_as_it_is() -> None:
    buffer = roi_buffer([("face", 0, 0, 4, 4, 1, 'emcustom, json=(string)"not json", n=(int)1')])
    assert roi_params(buffer) == [{"emcustom": {"json": "not json", "n": 1}}]


# End to end with a real detector on real photographs


def face_means(frame_data: bytes, width: int, height: int, rects: list[dict]) -> list[float]:
    image = np.frombuffer(frame_data, np.uint8).reshape(height, width, 4)
    return [
        float(
            image[r["top"] : r["top"] + r["height"], r["left"] : r["left"] + r["width"], :3].mean()
        )
        for r in rects
    ]


def measure_faces(pipeline, write_library, image, properties: str = "") -> PipelineResult:
    """Two frames of `image` through facedetect and an empycustom measuring every face."""
    lib = write_library(AVERAGE_INTENSITY_LIB)
    result = pipeline(
        f"{faces_source(image, 2)} ! empycustom name=e custom-lib={lib} in-place=true "
        f"{properties} ! appsink name=sink",
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    return result


def test_astronaut_face_reaches_the_library_and_its_result_comes_back(
    pipeline, write_library
) -> None:
    result = measure_faces(pipeline, write_library, ASTRONAUT, "labels=background,face")
    assert len(result.frames) == 2
    for frame in result.frames:
        (face,) = frame.meta["frame"][0]["object"]
        assert face["obj_label"] == "face"
        assert face["class_id"] == 1
        rect = face["rect_params"]
        # The face of the astronaut is at about x=175 y=64, 97x97.
        assert abs(rect["left"] - 175) <= 10 and abs(rect["top"] - 64) <= 10
        assert 80 <= rect["width"] <= 115 and 80 <= rect["height"] <= 115
        (expected,) = face_means(frame.data, 512, 512, [rect])
        assert face["emcustom"] == {"label": "face", "mean": pytest.approx(expected)}
        assert frame.meta["frame"][0]["emcustom"] == {"faces": 1}
        assert roi_params(frame.buffer) == [{"emcustom": face["emcustom"]}]


# Where the three heads were pasted into astronaut-faces.png (tests/data/README.md): the face
# of the astronaut.png head, scaled like its copy.
COMPOSITE_FACES = [
    {"left": 40, "top": 54, "size": 97},
    {"left": 226, "top": 62, "size": 81},
    {"left": 391, "top": 59, "size": 86},
]


def test_every_face_of_a_composite_is_one_object_with_its_own_result(
    pipeline, write_library
) -> None:
    result = measure_faces(pipeline, write_library, ASTRONAUT_FACES)
    assert len(result.signals) == 2
    for frame, signal in zip(result.frames, result.signals, strict=True):
        assert frame.meta == signal
        faces = frame.meta["frame"][0]["object"]
        rects = sorted((f["rect_params"] for f in faces), key=lambda r: r["left"])
        assert len(rects) == len(COMPOSITE_FACES)
        for rect, expected in zip(rects, COMPOSITE_FACES, strict=True):
            assert abs(rect["left"] - expected["left"]) <= 15
            assert abs(rect["top"] - expected["top"]) <= 15
            assert 0.75 * expected["size"] <= rect["width"] <= 1.3 * expected["size"]
        means = face_means(frame.data, 520, 200, [f["rect_params"] for f in faces])
        assert [f["emcustom"]["mean"] for f in faces] == pytest.approx(means)
        assert len(set(means)) == 3  # three different crops, three different results
        assert frame.meta["frame"][0]["emcustom"] == {"faces": 3}
        assert roi_params(frame.buffer) == [{"emcustom": f["emcustom"]} for f in faces]


# Metas flowing downstream


def test_chained_elements_see_upstream_results(pipeline, write_library) -> None:
    first = write_library(
        """
        def process_ip(buffer, in_meta, options, events):
            return [{"stage": 1, "index": i} for i, _ in enumerate(in_meta["frame"][0]["object"])]
        """
    )
    second = write_library(
        """
        def process_ip(buffer, in_meta, options, events):
            return [{"stage": 2, "saw": obj["emcustom"], "param": obj["params"].get("emcustom")}
                    for obj in in_meta["frame"][0]["object"]]
        """
    )
    result = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 1)} ! empycustom custom-lib={first} in-place=true ! "
        f"queue ! empycustom name=e custom-lib={second} in-place=true ! appsink name=sink",
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    (frame,) = result.frames
    faces = frame.meta["frame"][0]["object"]
    assert len(faces) == 3
    for index, face in enumerate(faces):
        first_result = {"stage": 1, "index": index}
        assert face["params"] == {"emcustom": first_result}
        # The second library saw the first one's result where the reference puts it; its own
        # is merged into it key by key.
        assert face["emcustom"] == {"stage": 2, "index": index, "saw": first_result,
                                    "param": first_result}  # fmt: skip
    # Downstream of both, each ROI carries the merged result.
    assert roi_params(frame.buffer) == [{"emcustom": face["emcustom"]} for face in faces]


def test_not_in_place_keeps_roi_metas_and_results(pipeline, write_library) -> None:
    lib = write_library(
        """
        def process(buffer, in_meta, options, events):
            return buffer, [{"n": i} for i, _ in enumerate(in_meta["frame"][0]["object"])]
        """
    )
    result = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 2)} ! empycustom name=e custom-lib={lib} in-place=false "
        "! appsink name=sink",
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == 2
    for frame in result.frames:
        faces = frame.meta["frame"][0]["object"]
        assert len(faces) == 3
        assert [f["emcustom"] for f in faces] == [{"n": 0}, {"n": 1}, {"n": 2}]
        found, _ = objects.read_objects(frame.buffer, {})
        assert [o["rect_params"] for o in found] == [f["rect_params"] for f in faces]
        assert [o["params"] for o in found] == [{"emcustom": {"n": i}} for i in range(3)]


def test_metas_survive_tee_queue_and_same_format_videoconvert(pipeline, write_library) -> None:
    lib = write_library(ECHO_LIB)
    result = pipeline(
        appsrc_pipeline(
            f"empycustom name=e custom-lib={lib} in-place=true ! tee name=t "
            "t. ! queue ! fakesink t. ! queue ! videoconvert ! video/x-raw,format=RGBA"
        ),
        configure=push_frames([[("face", 1, 2, 3, 4, 1), ("car", 5, 6, 7, 8, 2)]]),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    (frame,) = result.frames
    assert [o["emcustom"]["index"] for o in frame.meta["frame"][0]["object"]] == [0, 1]
    assert result_param(frame.buffer, 1)["rect"] == {"left": 1, "top": 2, "width": 3, "height": 4}
    assert result_param(frame.buffer, 2)["index"] == 1


@pytest.mark.parametrize(
    ("converter", "rect"),
    [
        ("videoconvert ! video/x-raw,format=I420", {"left": 1, "top": 2, "width": 3, "height": 4}),
        (
            "videoscale ! video/x-raw,width=128,height=96",
            {"left": 2, "top": 4, "width": 6, "height": 8},
        ),
    ],
)
def test_format_or_size_change_keeps_rois_and_frame_meta(
    pipeline, write_library, converter: str, rect: dict
) -> None:
    """GStreamer 1.22's videoconvert and videoscale keep (and scale) ROI rectangles and keep the
    merged meta when they change the frame, but drop ROI params: read results from
    empycustom.read_meta() after them."""
    lib = write_library(ECHO_LIB)
    result = pipeline(
        appsrc_pipeline(f"empycustom name=e custom-lib={lib} in-place=true ! {converter}"),
        configure=push_frames([[("face", 1, 2, 3, 4, 1)]]),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    (frame,) = result.frames
    assert frame.meta["frame"][0]["object"][0]["emcustom"]["index"] == 0
    found, _ = objects.read_objects(frame.buffer, {})
    assert [o["rect_params"] for o in found] == [rect]


# Bounds: whatever detectors attach reaches the library unchanged


def test_rois_outside_the_frame_and_zero_sized_reach_the_library(pipeline, write_library) -> None:
    rois = [
        ("partly", WIDTH - 10, HEIGHT - 10, 40, 40, 1),
        ("outside", WIDTH + 100, HEIGHT + 100, 5, 5, 2),
        ("empty", 10, 10, 0, 0, 3),
        ("huge", 0, 0, 2**32 - 1, 2**32 - 1, 4),
    ]
    lib = write_library(AVERAGE_INTENSITY_LIB.replace("faces", "objects"))
    echo = write_library(ECHO_LIB)
    result = pipeline(
        appsrc_pipeline(
            f"empycustom custom-lib={echo} in-place=true ! "
            f"empycustom name=e custom-lib={lib} in-place=true"
        ),
        configure=push_frames([rois]),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    (frame,) = result.frames
    got = frame.meta["frame"][0]["object"]
    assert [o["obj_label"] for o in got] == ["partly", "outside", "empty", "huge"]
    assert [o["rect_params"] for o in got] == [
        {"left": x, "top": y, "width": w, "height": h} for _, x, y, w, h, _ in rois
    ]
    assert [o["params"]["emcustom"]["rect"] for o in got] == [o["rect_params"] for o in got]
    assert [o["emcustom"]["mean"] is None for o in got] == [False, True, True, False]
    assert len(roi_params(frame.buffer)) == 4
    if analytics.unavailable() is None:
        # GstAnalytics boxes are gint: the huge box has no entry there (and fails nothing).
        labels = {entry["obj_label"] for entry in analytics.read_entries(frame.buffer)}
        assert labels == {"partly", "outside", "empty"}


def test_hundreds_of_rois_per_frame(pipeline, write_library) -> None:
    count = 300
    rois = [("box", i % WIDTH, i % HEIGHT, 1 + i % 7, 1 + i % 5, i) for i in range(count)]
    lib = write_library(ECHO_LIB)
    result = pipeline(
        appsrc_pipeline(f"empycustom name=e custom-lib={lib} in-place=true"),
        configure=push_frames([rois, rois, rois]),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == 3
    for frame in result.frames:
        got = frame.meta["frame"][0]["object"]
        assert [o["object_id"] for o in got] == list(range(count))
        assert [o["emcustom"]["index"] for o in got] == list(range(count))
        params = roi_params(frame.buffer)
        assert [p["emcustom"]["rect"] for p in params] == [o["rect_params"] for o in got]
    assert result_param(result.frames[0].buffer, 299)["index"] == 299


def test_process_interval_frames_keep_their_rois_untouched(pipeline, write_library) -> None:
    lib = write_library(ECHO_LIB)
    result = pipeline(
        appsrc_pipeline(f"empycustom name=e custom-lib={lib} in-place=true process-interval=2"),
        configure=push_frames([[("face", 1, 1, 2, 2, 1)]] * 2),
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    processed, skipped = result.frames
    assert result_param(processed.buffer, 1)["index"] == 0
    assert skipped.meta is None
    assert roi_params(skipped.buffer) == [{}]


def test_read_meta_gives_the_merged_json(pipeline, write_library) -> None:
    lib = write_library(ECHO_LIB)
    result = pipeline(
        appsrc_pipeline(f"empycustom name=e custom-lib={lib} in-place=true"),
        configure=push_frames([[("face", 1, 2, 3, 4, 1)]]),
        keep_buffers=True,
    )
    (frame,) = result.frames
    assert empycustom.read_meta(frame.buffer) == result.signals[0]
    assert json.loads(empycustom.read_meta_json(frame.buffer)) == result.signals[0]

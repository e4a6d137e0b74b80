"""empycustom between GStreamer's own analytics producer and consumer (GStreamer >= 1.24).

`onnxinference` runs a small SSD-shaped ONNX model built here with the `onnx` package (its
outputs are fixed boxes, scores and classes), `ssdobjectdetector` turns them into
object-detection entries, empycustom reads them as objects, classifies them and creates one
more, and `objectdetectionoverlay` draws every entry: the pixels show which boxes arrived.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from empycustom.gst.runtime import Gst

ELEMENTS = ("onnxinference", "ssdobjectdetector", "objectdetectionoverlay")
missing = [name for name in ELEMENTS if Gst.ElementFactory.find(name) is None]
if missing:
    pytest.skip(
        f"{', '.join(missing)}: analytics elements of GStreamer >= 1.24 (gst-plugins-bad); "
        f"this is {Gst.version_string()}",
        allow_module_level=True,
    )
onnx = pytest.importorskip("onnx", reason="the onnx package (Debian 13's python3-onnx) is missing")

SIZE = 64
# ssdobjectdetector's boxes are (y1, x1, y2, x2), normalized; class i is line i of the labels.
DETECTIONS = [
    ((0.125, 0.25, 0.5, 0.75), 2.0, 0.875),  # person: x=16 y=8 w=32 h=24
    ((0.5, 0.0625, 0.875, 0.3125), 1.0, 0.75),  # car: x=4 y=32 w=16 h=24
]
LABELS = "background\ncar\nperson\n"
CREATED_BOX = (40, 40, 16, 16)
GREEN = 0xFF00FF00  # the overlay's outline colour, ARGB

LIBRARY = f"""
import empycustom

def process_ip(buffer, in_meta, options, events):
    detected = in_meta["frame"][0]["object"]
    results = [{{"label": "checked", "confidence": 0.5, "seen": o["obj_label"]}} for o in detected]
    empycustom.add_object(in_meta, "mark", {CREATED_BOX}, confidence=0.25)
    return results + [{{"created": "mark"}}]

def process(buffer, in_meta, options, events):
    return buffer, process_ip(buffer, in_meta, options, events)
"""


def ssd_model(path: Path) -> None:
    """Constant outputs named as ssdobjectdetector wants them (through the model's metadata),
    float32, saved with an IR version and opset onnxinference accepts (<= 10, <= 22)."""
    from onnx import TensorProto, helper, numpy_helper

    outputs = {
        "boxes": np.array([[box for box, _, _ in DETECTIONS]], np.float32),
        "classes": np.array([[label for _, label, _ in DETECTIONS]], np.float32),
        "scores": np.array([[score for _, _, score in DETECTIONS]], np.float32),
        "count": np.array([len(DETECTIONS)], np.float32),
    }
    nodes = [
        helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))
        for name, value in outputs.items()
    ]
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, [1, "height", "width", 3])
    results = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape))
        for name, value in outputs.items()
    ]
    graph = helper.make_graph(nodes, "ssd", [image], results)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(
        model,
        {
            "boxes": "Gst.Model.ObjectDetector.Boxes",
            "classes": "Gst.Model.ObjectDetector.Classes",
            "scores": "Gst.Model.ObjectDetector.Scores",
            "count": "Gst.Model.ObjectDetector.NumDetections",
        },
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def unexpected_stderr(stderr: str) -> list[str]:
    """stderr without the ~560 harmless "Schema error" lines every ONNX session prints on
    Debian 13 (its onnxruntime and libonnx register the same operator schemas)."""
    return [line for line in stderr.splitlines() if line.strip() and "Schema error" not in line]


def green(frame: np.ndarray, top: int, left: int) -> int:
    """The most green around a pixel (an anti-aliased outline covers two pixels)."""
    window = frame[max(top - 1, 0) : top + 2, max(left - 1, 0) : left + 2]
    return int(window[..., 1].max())


@pytest.mark.parametrize("in_place", ["true", "false"])
def test_detections_and_created_objects_are_drawn_by_objectdetectionoverlay(
    gst_launch, write_library, tmp_path, in_place
):
    model, labels = tmp_path / "ssd.onnx", tmp_path / "labels.txt"
    ssd_model(model)
    labels.write_text(LABELS)
    lib = write_library(LIBRARY)
    metas, frames = tmp_path / "meta.jsonl", tmp_path / "frames.rgba"
    completed = gst_launch(
        [
            "videotestsrc", "num-buffers=2", "pattern=black", "!",
            f"video/x-raw,format=RGB,width={SIZE},height={SIZE},framerate=30/1", "!",
            "onnxinference", f"model-file={model}", "!",
            "ssdobjectdetector", f"label-file={labels}", "size-threshold=1.0", "!",
            "empycustom", f"custom-lib={lib}", f"in-place={in_place}", "!",
            "aimeta", f"location={metas}", "!",
            "objectdetectionoverlay", "draw-labels=false",
            f"object-detection-outline-color={GREEN}", "!",
            "videoconvert", "!", "video/x-raw,format=RGBA", "!", "filesink", f"location={frames}",
        ]
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert unexpected_stderr(completed.stderr) == []

    lines = [json.loads(line) for line in metas.read_text().splitlines()]
    assert len(lines) == 2
    for meta in lines:
        objects = meta["frame"][0]["object"]
        assert [(o["obj_label"], o["rect_params"], o["confidence"]) for o in objects] == [
            ("person", {"left": 16, "top": 8, "width": 32, "height": 24}, 0.875),
            ("car", {"left": 4, "top": 32, "width": 16, "height": 24}, 0.75),
            ("mark", {"left": 40, "top": 40, "width": 16, "height": 16}, 0.25),
        ]
        assert [o["emcustom"].get("seen") for o in objects] == ["person", "car", None]

    data = np.frombuffer(frames.read_bytes(), np.uint8).reshape(2, SIZE, SIZE, 4)
    for frame in data:
        # Each box's edges are green: the two detections and the object the library created.
        for left, top, width, height in [(16, 8, 32, 24), (4, 32, 16, 24), CREATED_BOX]:
            for y, x in [
                (top, left + width // 2), (top + height - 1, left + width // 2),
                (top + height // 2, left), (top + height // 2, left + width - 1),
            ]:  # fmt: skip
                assert green(frame, y, x) > 100, (left, top, width, height, y, x)
            assert green(frame, top + height // 2, left + width // 2) < 20  # inside: black
        assert green(frame, 2, 60) < 20  # nothing drawn where no object is

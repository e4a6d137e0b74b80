"""The bundled example libraries in real pipelines with a real detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipeline import ASTRONAUT_FACES, faces_source

from empycustom.examples import example_path

REFERENCE_AVERAGE_INTENSITY = "tests/data/reference/average_intensity.py"


def faces(frame_format: str = "RGBA") -> str:
    return faces_source(ASTRONAUT_FACES, 1).replace(
        "video/x-raw,format=RGBA", f"video/x-raw,format={frame_format}"
    )


@pytest.mark.parametrize("frame_format", ["RGBA", "BGR", "I420", "NV12"])
def test_average_intensity_of_each_face(pipeline, frame_format):
    lib = example_path("average_intensity.py")
    result = pipeline(
        f"{faces(frame_format)} ! empycustom custom-lib={lib} in-place=true ! appsink name=sink"
    )
    assert result.eos, result.error_texts
    (frame,) = result.frames
    faces_found = frame.meta["frame"][0]["object"]
    assert len(faces_found) == 3
    data = np.frombuffer(frame.data, np.uint8)
    for face in faces_found:
        r = face["rect_params"]
        rows = slice(r["top"], r["top"] + r["height"])
        columns = slice(r["left"], r["left"] + r["width"])
        if frame_format in ("I420", "NV12"):
            expected = data[: 520 * 200].reshape(200, 520)[rows, columns].mean()
        else:
            channels = 4 if frame_format == "RGBA" else 3
            image = data.reshape(200, 520, channels)
            expected = image[rows, columns, :3].mean()
        assert face["emcustom"]["average_intensity"] == pytest.approx(expected, abs=0.01)


def test_average_intensity_filters_by_label(pipeline):
    lib = example_path("average_intensity.py")
    result = pipeline(
        f"{faces()} ! empycustom name=e custom-lib={lib} in-place=true labels=person,car,face "
        "options={'person_class_id':0} ! fakesink"
    )
    assert result.eos, result.error_texts
    assert [face["emcustom"] for face in result.signals[0]["frame"][0]["object"]] == [{}] * 3
    result = pipeline(
        f"{faces()} ! empycustom name=e custom-lib={lib} in-place=true "
        "options={'label':'face'} ! fakesink"
    )
    assert all(face["emcustom"] for face in result.signals[0]["frame"][0]["object"])


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
def test_reference_average_intensity_runs_unchanged_on_faces(pipeline):
    """The reference's own example, verbatim with its PIL and cv2 imports (the set-up installs
    Pillow and OpenCV), swapped axes and overwritten sizes, still runs as it did."""
    text = Path(REFERENCE_AVERAGE_INTENSITY).read_text()
    assert "from PIL import Image\nimport cv2\nimport gi\n" in text
    assert "Applies a custom function to a video stream in-place" in text  # docstrings too
    result = pipeline(
        f"{faces()} ! empycustom name=e custom-lib={REFERENCE_AVERAGE_INTENSITY} in-place=true "
        "labels=a,b,face ! fakesink"
    )
    assert result.eos, result.error_texts
    faces_found = result.signals[0]["frame"][0]["object"]
    assert len(faces_found) == 3
    assert all("average_intensity" in face["emcustom"] for face in faces_found)
    # Its documented quirk: it overwrites the ROI size it was given.
    assert {
        (face["rect_params"]["width"], face["rect_params"]["height"]) for face in faces_found
    } == {(50, 150)}


@pytest.mark.parametrize("frame_format", ["RGBA", "RGB", "I420"])
def test_draw_overlay_draws_boxes_and_text(pipeline, write_library, frame_format):
    results = write_library("def process_ip(b, m, o, e):\n    return [{'score': 0.5}] * 3\n")
    overlay = example_path("draw_overlay.py")
    result = pipeline(
        f"{faces(frame_format)} ! empycustom custom-lib={results} in-place=true ! "
        f"empycustom name=e custom-lib={overlay} in-place=true "
        "options={'color':[255,0,255],'thickness':2} ! videoconvert ! video/x-raw,format=RGBA "
        "! appsink name=sink"
    )
    assert result.eos, result.error_texts
    image = (
        np.frombuffer(result.frames[0].data, np.uint8).reshape(200, 520, 4)[:, :, :3].astype(int)
    )
    for face in result.signals[0]["frame"][0]["object"]:
        r = face["rect_params"]
        left_edge = image[r["top"] : r["top"] + r["height"], r["left"]]
        inside = image[r["top"] + 10 : r["top"] + r["height"] - 10, r["left"] + 10]
        if frame_format == "I420":  # boxes drawn in the luma plane: bright
            assert (left_edge.mean(axis=1) > 200).mean() > 0.9
        else:  # magenta: red and blue high, green low
            assert (
                (left_edge[:, 0] > 200) & (left_edge[:, 2] > 200) & (left_edge[:, 1] < 60)
            ).mean() > 0.9
        assert not ((inside[:, 0] > 200) & (inside[:, 1] < 60)).all()
        # The result text sits just above the box.
        above = image[max(r["top"] - 14, 0) : r["top"] - 2, r["left"] : r["left"] + 60]
        if frame_format == "I420":
            assert (above.mean(axis=2) > 200).sum() > 20
        else:
            assert ((above[:, :, 0] > 200) & (above[:, :, 1] < 60)).sum() > 20


def test_draw_overlay_without_objects_writes_the_frame_result(pipeline, write_library):
    measure = example_path("average_intensity.py")
    result = pipeline(
        "videotestsrc num-buffers=1 pattern=black ! video/x-raw,format=RGBA,width=160,height=40 ! "
        f"empycustom custom-lib={measure} in-place=true ! "
        f"empycustom name=e custom-lib={example_path('draw_overlay.py')} in-place=true ! "
        "appsink name=sink"
    )
    assert result.eos, result.error_texts
    image = np.frombuffer(result.frames[0].data, np.uint8).reshape(40, 160, 4)
    assert (image[:20, :, 1] > 100).sum() > 50  # green text on black
    assert (image[25:, :, 1] == 0).all()

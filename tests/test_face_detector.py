"""examples/face_detector.py: a detector written in Python, against the C facedetect element."""

from __future__ import annotations

import pytest
from pipeline import ASTRONAUT, ASTRONAUT_FACES

from empycustom.examples import example_path
from empycustom.meta import objects

DETECTOR = example_path("face_detector.py")
AVERAGE = example_path("average_intensity.py")
OVERLAY = example_path("draw_overlay.py")


def picture(image, frames: int = 1, fmt: str = "RGBA") -> str:
    return (
        f"filesrc location={image} ! pngdec ! imagefreeze num-buffers={frames} ! videoconvert ! "
        f"video/x-raw,format={fmt}"
    )


def boxes(frame) -> list[tuple[int, int, int, int]]:
    found, _ = objects.read_objects(frame.buffer, {})
    assert {o["obj_label"] for o in found} <= {"face"}
    rects = [o["rect_params"] for o in found]
    return sorted((r["left"], r["top"], r["width"], r["height"]) for r in rects)


def facedetect_boxes(pipeline, image) -> list[tuple[int, int, int, int]]:
    result = pipeline(
        f"{picture(image, fmt='RGB')} ! facedetect display=false ! appsink name=sink",
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    return boxes(result.frames[0])


def assert_same_faces(found, expected, tolerance: int = 3) -> None:
    assert len(found) == len(expected), (found, expected)
    for box, other in zip(found, expected, strict=True):
        assert all(abs(a - b) <= tolerance for a, b in zip(box, other, strict=True)), (
            found,
            expected,
        )


@pytest.mark.parametrize("mode", ["in-place=true", "in-place=false"])
@pytest.mark.parametrize("image", [ASTRONAUT_FACES, ASTRONAUT], ids=["three-faces", "one-face"])
def test_finds_the_faces_facedetect_finds(pipeline, mode, image) -> None:
    expected = facedetect_boxes(pipeline, image)
    assert len(expected) == (3 if image == ASTRONAUT_FACES else 1)
    result = pipeline(
        f"{picture(image)} ! empycustom name=e custom-lib={DETECTOR} {mode} ! appsink name=sink",
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    (frame,) = result.frames
    assert_same_faces(boxes(frame), expected)
    assert frame.meta["frame"][0]["emcustom"] == {"faces": len(expected)}
    assert [o["object_id"] for o in frame.meta["frame"][0]["object"]] == list(
        range(1, len(expected) + 1)
    )


def test_luma_of_planar_frames_finds_the_faces_too(pipeline) -> None:
    expected = facedetect_boxes(pipeline, ASTRONAUT_FACES)
    result = pipeline(
        f"{picture(ASTRONAUT_FACES, fmt='I420')} ! empycustom custom-lib={DETECTOR} "
        "in-place=true ! appsink name=sink",
        keep_buffers=True,
    )
    assert result.eos, result.error_texts
    assert_same_faces(boxes(result.frames[0]), expected, tolerance=6)


def test_average_intensity_and_overlay_work_after_it_as_after_facedetect(pipeline) -> None:
    after = (
        f"empycustom custom-lib={AVERAGE} in-place=true labels=background,face ! "
        f"empycustom name=e custom-lib={OVERLAY} in-place=true ! appsink name=sink"
    )
    with_c = pipeline(
        f"{picture(ASTRONAUT_FACES, 2, 'RGB')} ! facedetect display=false ! videoconvert ! "
        f"video/x-raw,format=RGBA ! {after}",
        keep_buffers=True,
    )
    with_python = pipeline(
        f"{picture(ASTRONAUT_FACES, 2)} ! empycustom custom-lib={DETECTOR} in-place=true ! {after}",
        keep_buffers=True,
    )
    for result in (with_c, with_python):
        assert result.eos, result.error_texts
        assert len(result.frames) == 2

    def faces(frame) -> list[tuple]:
        got = frame.meta["frame"][0]["object"]
        return sorted((tuple(o["rect_params"].values()), o["class_id"], o["emcustom"]) for o in got)

    for c_frame, python_frame in zip(with_c.frames, with_python.frames, strict=True):
        c_faces, python_faces = faces(c_frame), faces(python_frame)
        assert len(c_faces) == 3
        assert all(face[1] == 1 and 0 < face[2]["average_intensity"] < 255 for face in c_faces)
        if [f[0] for f in c_faces] == [f[0] for f in python_faces]:  # the same boxes (here)
            assert python_faces == c_faces
            assert python_frame.data == c_frame.data  # the same boxes and labels drawn
        else:
            assert_same_faces([f[0] for f in python_faces], [f[0] for f in c_faces])
        assert python_frame.data != bytes(len(python_frame.data))


def test_a_missing_cascade_is_a_start_error_naming_it(pipeline) -> None:
    result = pipeline(
        f"{picture(ASTRONAUT)} ! empycustom custom-lib={DETECTOR} in-place=true "
        'options="{\\"cascade\\": \\"no_such_cascade.xml\\"}" ! fakesink'
    )
    assert not result.eos
    assert "no_such_cascade.xml" in result.error_texts
    assert "haarcascade_frontalface_default.xml" in result.error_texts  # what there is

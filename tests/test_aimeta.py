"""The `aimeta` element: passes buffers through and hands on the merged meta."""

from __future__ import annotations

import json

from pipeline import ASTRONAUT_FACES, faces_source

from empycustom.gst.runtime import Gst

# One result per face: its rectangle, so every line can be checked against its objects.
FACE_LIB = """
def process_ip(buffer, in_meta, options, events):
    objects = in_meta["frame"][0]["object"]
    return [{"face": i, "rect": obj["rect_params"]} for i, obj in enumerate(objects)]
"""


def test_signal_last_meta_and_json_lines(pipeline, write_library, tmp_path) -> None:
    lib = write_library(FACE_LIB)
    lines = tmp_path / "meta.jsonl"
    lines.write_text('{"earlier": "line"}\n')
    result = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 3)} ! empycustom custom-lib={lib} in-place=true ! "
        f"aimeta name=a silent=false location={lines} ! appsink name=sink",
        signal_element="a",
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == 3
    sink_metas = [frame.meta for frame in result.frames]
    assert result.signals == sink_metas
    written = [json.loads(line) for line in lines.read_text().splitlines()]
    assert written[0] == {"earlier": "line"}  # appended, not overwritten
    assert written[1:] == sink_metas
    for meta in sink_metas:
        faces = meta["frame"][0]["object"]
        assert len(faces) == 3
        assert [f["emcustom"] for f in faces] == [
            {"face": i, "rect": f["rect_params"]} for i, f in enumerate(faces)
        ]
    aimeta = result.pipeline.get_by_name("a")
    assert json.loads(aimeta.get_property("last-meta")) == sink_metas[-1]


def test_silent_by_default_and_buffers_untouched(pipeline, write_library) -> None:
    lib = write_library(FACE_LIB)
    plain = pipeline(f"{faces_source(ASTRONAUT_FACES, 1)} ! appsink name=sink")
    result = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 1)} ! empycustom custom-lib={lib} in-place=true ! "
        "aimeta name=a ! appsink name=sink",
        signal_element="a",
    )
    assert result.eos, result.error_texts
    assert result.pipeline.get_by_name("a").get_property("silent") is True
    assert result.signals == []
    assert result.pipeline.get_by_name("a").get_property("last-meta") is not None
    assert [(f.data, f.pts, f.caps) for f in result.frames] == [
        (f.data, f.pts, f.caps) for f in plain.frames
    ]


def test_frames_without_meta_pass_without_a_line(pipeline, tmp_path) -> None:
    lines = tmp_path / "meta.jsonl"
    result = pipeline(
        "videotestsrc num-buffers=3 ! video/x-raw,width=32,height=24 ! "
        f"aimeta name=a silent=false location={lines} ! appsink name=sink",
        signal_element="a",
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == 3
    assert result.signals == []
    assert lines.read_text() == ""
    assert result.pipeline.get_by_name("a").get_property("last-meta") is None


def test_location_that_cannot_be_opened_is_an_error(pipeline, tmp_path) -> None:
    location = tmp_path / "missing-folder" / "meta.jsonl"
    result = pipeline(f"videotestsrc num-buffers=1 ! aimeta location={location} ! fakesink")
    assert not result.eos
    assert "cannot open location" in result.error_texts
    assert str(location) in result.error_texts


def test_reference_pipeline_shape_through_gst_launch(gst_launch, write_library) -> None:
    lib = write_library(FACE_LIB)
    completed = gst_launch(
        [
            "-q",
            *faces_source(ASTRONAUT_FACES, 2).split(),
            "!",
            "empycustom",
            f"custom-lib={lib}",
            "in-place=true",
            "process-interval=2",
            "!",
            "aimeta",
            "silent=false",
            "location=-",
            "!",
            "fakesink",
        ]
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # process-interval=2: the second frame carries no meta
    (frame,) = lines[0]["frame"]
    assert frame["frame_num"] == 0
    assert len(frame["object"]) == 3
    assert all(obj["emcustom"]["rect"] == obj["rect_params"] for obj in frame["object"])
    assert "CRITICAL" not in completed.stderr


def test_element_metadata() -> None:
    factory = Gst.ElementFactory.find("aimeta")
    assert factory is not None
    element = factory.create(None)
    assert element.get_name().startswith("aimeta")
    for prop in element.list_properties():
        if prop.name in ("silent", "location", "last-meta"):
            assert prop.blurb.endswith("."), prop.name

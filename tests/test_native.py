"""The C extension empycustom._native: GValue conversion, JSON text, ROI params, custom meta."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import re
import resource
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empycustom import _native
from empycustom.gst.runtime import GObject, Gst, GstVideo
from empycustom.meta import custom_meta, objects
from empycustom.meta.merge import RESULT_KEY
from empycustom.meta.outmeta import OutMetaError, from_json, to_json


def roi_with_params(*params: Gst.Structure, roi_type: str = "face") -> Gst.Buffer:
    buffer = Gst.Buffer.new()
    meta = GstVideo.buffer_add_video_region_of_interest_meta(buffer, roi_type, 1, 2, 3, 4)
    for param in params:
        meta.add_param(param)
    return buffer


def gvalue(gtype: GObject.GType, setter: str, value: Any) -> GObject.Value:
    holder = GObject.Value()
    holder.init(gtype)
    getattr(holder, setter)(value)
    return holder


def read_params(buffer: Gst.Buffer) -> dict[str, Any]:
    (obj,), _ = objects.read_objects(buffer, {})
    return obj["params"]


# GValues of ROI params as plain data


@pytest.mark.parametrize(
    ("gtype", "setter", "value"),
    [
        (GObject.TYPE_BOOLEAN, "set_boolean", True),
        (GObject.TYPE_BOOLEAN, "set_boolean", False),
        (GObject.TYPE_CHAR, "set_schar", -128),
        (GObject.TYPE_UCHAR, "set_uchar", 255),
        (GObject.TYPE_INT, "set_int", -(2**31)),
        (GObject.TYPE_UINT, "set_uint", 2**32 - 1),
        (GObject.TYPE_LONG, "set_long", -(2**63)),
        (GObject.TYPE_ULONG, "set_ulong", 2**64 - 1),
        (GObject.TYPE_INT64, "set_int64", -(2**63)),
        (GObject.TYPE_UINT64, "set_uint64", 2**64 - 1),
        (GObject.TYPE_FLOAT, "set_float", 0.25),
        (GObject.TYPE_DOUBLE, "set_double", -1e300),
        (GObject.TYPE_STRING, "set_string", "é ü"),
        (GObject.TYPE_STRING, "set_string", None),
    ],
)
def test_fundamental_values_keep_their_python_type(gtype, setter, value) -> None:
    structure = Gst.Structure.new_empty("types")
    structure.set_value("v", gvalue(gtype, setter, value))
    converted = read_params(roi_with_params(structure))["types"]["v"]
    assert converted == value and type(converted) is type(value)


def test_a_float_param_is_its_single_precision_value() -> None:
    structure = Gst.Structure.new_empty("types")
    structure.set_value("v", gvalue(GObject.TYPE_FLOAT, "set_float", 0.1))
    assert read_params(roi_with_params(structure))["types"]["v"] == 0.10000000149011612


def test_containers_nest_and_other_types_are_serialized() -> None:
    structure = Gst.Structure.new_from_string(
        'more, caps=(GstCaps)"video/x-raw", mask=(bitmask)0x3, rate=(fraction)30/1, '
        "grid=(int)<1, <2, 3>>, choices=(double){0.5, 1.5}, names=(string)<a, b>, "
        'inner=(structure)"x\\,\\ y\\=\\(int\\)1\\;", empty=(int)<>'
    )
    assert read_params(roi_with_params(structure)) == {
        "more": {
            "caps": "video/x-raw",
            "mask": "0x0000000000000003",
            "rate": "30/1",
            "grid": [1, [2, 3]],
            "choices": [0.5, 1.5],
            "names": ["a", "b"],
            "inner": {"y": 1},
            "empty": [],
        }
    }


def test_the_first_param_of_a_name_wins_and_labels_may_be_empty() -> None:
    buffer = roi_with_params(
        Gst.Structure.new_from_string("p, n=(int)1"),
        Gst.Structure.new_from_string("p, n=(int)2"),
        roi_type="",
    )
    (obj,), _ = objects.read_objects(buffer, {"": 5})
    assert obj["params"] == {"p": {"n": 1}}
    assert (obj["obj_label"], obj["class_id"]) == ("", 5)


def test_detection_takes_any_int_label_and_any_number_confidence() -> None:
    for param, expected in [
        ("detection, label_id=(boolean)true, confidence=(int)3", (True, 3.0)),
        ("detection, label_id=(double)1.0, confidence=(string)x", (-1, -1.0)),
        ("detection, label_id=(gint64)-7", (-7, -1.0)),
    ]:
        (obj,), _ = objects.read_objects(roi_with_params(Gst.Structure.new_from_string(param)), {})
        assert (obj["class_id"], obj["confidence"]) == expected, param
        assert type(obj["confidence"]) is float


def test_an_emcustom_param_is_read_as_json_does() -> None:
    texts = ["[NaN, 123456789012345678901234567890, 1.5]", '{"a": "\\ud800"}', "not json"]
    for text in texts:
        param = Gst.Structure.new_empty(RESULT_KEY)
        param.set_value("json", gvalue(GObject.TYPE_STRING, "set_string", text))
        found = read_params(roi_with_params(param))[RESULT_KEY]
        if text == "not json":
            assert found == {"json": "not json"}
        else:
            assert repr(found) == repr(json.loads(text))


def test_a_decoder_failing_otherwise_than_with_valueerror_fails_the_read() -> None:
    def broken(text: str) -> Any:
        raise RuntimeError("decoder broke")

    buffer = roi_with_params(Gst.Structure.new_from_string('emcustom, json=(string)"[1]"'))
    with pytest.raises(RuntimeError, match="decoder broke"):
        _native.read_rois(hash(buffer), {}, broken)


def test_bad_arguments_raise_instead_of_crashing() -> None:
    buffer = roi_with_params()
    with pytest.raises(TypeError, match="label_ids must be a dict"):
        _native.read_rois(hash(buffer), [], from_json)
    with pytest.raises(ValueError, match="NULL"):
        _native.read_rois(0, {}, from_json)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        _native.read_rois(hash(buffer), {})
    _, rois = objects.read_objects(buffer, {})
    with pytest.raises(TypeError, match="must be the JSON text of a list, not list"):
        _native.write_results(rois, ["{}"])
    with pytest.raises(ValueError, match="must be the JSON text of a list"):
        _native.write_results(rois, '{"a": 1}')
    with pytest.raises(ValueError, match="NULL"):
        _native.write_results([0], "[1]")


# Results onto ROI params


@pytest.mark.parametrize("as_bytes", [False, True])
def test_write_results_splits_any_json_list(as_bytes) -> None:
    buffer = Gst.Buffer.new()
    for _ in range(6):
        GstVideo.buffer_add_video_region_of_interest_meta(buffer, "face", 0, 0, 1, 1)
    _, rois = objects.read_objects(buffer, {})
    elements = [
        '{"text": "a, \\"quoted\\" ] } [ {", "n": [1, {"x": []}]}',
        "null",
        "[]",
        '"just, a string"',
        "-1.5e3",
        "{}",  # nothing for this object
    ]
    text = "[ " + " ,\n ".join(elements) + " , 7]"  # spaces, newlines, one element too many
    _native.write_results(rois, text.encode() if as_bytes else text)
    written = [obj.get("params", {}).get("emcustom") for obj in objects.read_objects(buffer, {})[0]]
    assert written == [json.loads(element) for element in elements[:5]] + [None]


def test_empty_results_none_rois_and_unpaired_entries_are_skipped() -> None:
    buffer = Gst.Buffer.new()
    for _ in range(3):
        GstVideo.buffer_add_video_region_of_interest_meta(buffer, "face", 0, 0, 1, 1)
    _, rois = objects.read_objects(buffer, {})
    objects.write_results([rois[0], None, rois[2]], [{}, {"a": 1}, {"b": 2}, {"c": 3}])
    objects.write_results(rois[:1], [])
    assert [obj["params"] for obj in objects.read_objects(buffer, {})[0]] == [
        {},
        {},
        {RESULT_KEY: {"b": 2}},
    ]
    objects.write_results(rois, [{"a": 1}])  # only as many as both lists have
    assert [obj["params"] for obj in objects.read_objects(buffer, {})[0]] == [
        {RESULT_KEY: {"a": 1}},
        {},
        {RESULT_KEY: {"b": 2}},
    ]


def test_results_are_written_as_strict_json() -> None:
    buffer = roi_with_params()
    _, rois = objects.read_objects(buffer, {})
    result = {"é": [1e-05, 2**70, math.nan, "\ud83d\ude00"]}
    objects.write_results(rois, [result])
    param = GstVideo.buffer_get_video_region_of_interest_meta_id(buffer, 0).get_param(RESULT_KEY)
    text = param.get_string("json")
    assert "NaN" not in text
    # A surrogate pair written as two escapes reads back as the character it encodes.
    assert json.loads(text) == {"é": [1e-05, 2**70, None, "\U0001f600"]}


# JSON text: orjson's speed, json's values


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1e-8, max_value=1e-3)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_to_json_holds_what_json_dumps_holds(value) -> None:
    assert json.loads(to_json(value)) == json.loads(json.dumps(value))


@pytest.mark.parametrize(
    "value",
    [
        [1e-07, 1e-05, -2.5e-05, 0.0001, 1e16, 1.5e300, 5e-324, -0.0, 1e15, 123456789.125],
        {"k\x7f": 'é\u2028\U0001f600\x01\n"\\/'},
        {"big": 2**64, "max": 2**64 - 1, "min": -(2**63), "lone": "\ud800"},
        {1: "int key", 1.5: "float key", None: "none key", False: "bool key"},
        [[], {}, [{}], {"a": []}],
    ],
)
def test_to_json_edge_values(value) -> None:
    assert json.loads(to_json(value)) == json.loads(json.dumps(value))


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2024, 1, 2), datetime.date(2024, 1, 2), _Point(1), object(), {(1, 2): 3}],
)
def test_to_json_refuses_what_json_refuses(value) -> None:
    """orjson writes dataclasses and datetimes itself; to_json must not."""
    with pytest.raises(TypeError):
        json.dumps({"a": value})
    with pytest.raises(OutMetaError):
        to_json({"a": value})


@pytest.mark.parametrize(
    "text",
    ["[NaN, Infinity]", "123456789012345678901234567890", "-9223372036854775809", '"\\udc00"',
     '{"a": [1, 2.5e-7, "x"]}', "1e400", '["\u00e9", 18446744073709551616]',
     '["\u20ac", -12345678901234567890123]', '["\U0001f600", 123456789012345678901]'],
)  # fmt: skip
def test_from_json_reads_what_json_loads_reads(text) -> None:
    assert repr(from_json(text)) == repr(json.loads(text))


@pytest.mark.parametrize("wide", ["", "\u00e9", "\u20ac", "\U0001f600"])  # 1, 1, 2, 4 bytes a char
def test_has_digit_run_finds_runs_of_ascii_digits(wide) -> None:
    assert _native.has_digit_run(wide + "a" + "1" * 19 + "b", 19)
    assert _native.has_digit_run(wide + "1" * 19, 19)
    assert not _native.has_digit_run(wide + "1" * 18 + "," + "1" * 18, 19)
    assert not _native.has_digit_run(wide + "\u0661" * 30, 19)  # Arabic-Indic digits: no JSON
    assert not _native.has_digit_run(wide, 1)
    with pytest.raises(ValueError):
        _native.has_digit_run("1", 0)
    with pytest.raises(TypeError):
        _native.has_digit_run(b"1", 1)


# Custom meta


def test_custom_meta_round_trip_absent_and_not_writable() -> None:
    custom_meta.ensure_registered()
    buffer = Gst.Buffer.new()
    assert custom_meta.read_meta_json(buffer) is None
    custom_meta.write_meta_json(buffer, '{"a": "é"}')
    custom_meta.write_meta_json(buffer, '{"a": "ü"}')
    assert custom_meta.read_meta_json(buffer) == '{"a": "ü"}'
    assert custom_meta.read_meta(buffer) == {"a": "ü"}
    custom_meta.write_meta_json(buffer, '{"a": "ö"}'.encode())  # UTF-8 bytes, as orjson's
    assert custom_meta.read_meta_json(buffer) == '{"a": "ö"}'
    custom_meta.write_meta_json(buffer, bytearray('{"a": "ä"}'.encode()))  # as last-meta keeps
    assert custom_meta.read_meta_json(buffer) == '{"a": "ä"}'
    with pytest.raises(TypeError, match="str or UTF-8 bytes"):
        custom_meta.write_meta_json(buffer, 42)
    shared = Gst.Sample.new(buffer, None, None, None).get_buffer()  # a second reference
    with pytest.raises(ValueError, match="not writable"):
        custom_meta.write_meta_json(shared, "{}")


# Process-level behaviour


def test_importing_native_first_leaves_roi_metas_working(tmp_path) -> None:
    """The ROI meta API type registered before gst_init() lacks its tags, and videoconvert then
    crashes transforming ROI metas: the extension must not register it at import."""
    script = """
import empycustom._native
from empycustom.meta import objects
from empycustom.gst.runtime import Gst, GstVideo
pipeline = Gst.parse_launch(
    "appsrc name=src caps=video/x-raw,format=RGBA,width=8,height=8,framerate=1/1 format=time "
    "! videoconvert ! video/x-raw,format=I420 ! appsink name=sink")
pipeline.set_state(Gst.State.PLAYING)
buffer = Gst.Buffer.new_allocate(None, 256, None)
buffer.pts = 0
GstVideo.buffer_add_video_region_of_interest_meta(buffer, "face", 1, 2, 3, 4)
pipeline.get_by_name("src").emit("push-buffer", buffer)
sample = pipeline.get_by_name("sink").emit("pull-sample")
print(objects.read_objects(sample.get_buffer(), {})[0][0]["rect_params"])
pipeline.set_state(Gst.State.NULL)
"""
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "{'left': 1, 'top': 2, 'width': 3, 'height': 4}"
    assert "CRITICAL" not in completed.stderr


def test_reading_and_writing_repeatedly_does_not_grow_memory() -> None:
    """References and GStreamer allocations are all released: a leak of one object per ROI
    would add tens of megabytes here."""
    buffer = Gst.Buffer.new()
    for index in range(50):
        meta = GstVideo.buffer_add_video_region_of_interest_meta(buffer, "person", index, 0, 4, 4)
        meta.add_param(Gst.Structure.new_from_string("detection, label_id=(uint)1, c=(int)<1, 2>"))
    custom_meta.ensure_registered()
    results = [{"label": "person", "score": 0.5, "é": [1e-5]}] * 50

    def cycle(times: int) -> None:
        for _ in range(times):
            found, rois = objects.read_objects(buffer, {"person": 0})
            objects.write_results(rois, results)
            custom_meta.write_meta_json(buffer, to_json(found))
            custom_meta.read_meta_json(buffer)

    cycle(300)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cycle(3000)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 4096, f"{grown_kib} KiB more after 3000 reads and writes of 50 ROIs"


def test_has_handler_sees_connected_handlers_only() -> None:
    from empycustom.gst.clib import gobject_pointer
    from empycustom.gst.runtime import GObject

    element = Gst.ElementFactory.make("empycustom")
    signal_id = GObject.signal_lookup("new-meta", type(element))
    address = gobject_pointer(element)
    assert _native.has_handler(address, signal_id) is False  # the class handler does not count
    handler = element.connect("new-meta", lambda *_: None)
    assert _native.has_handler(address, signal_id) is True
    element.disconnect(handler)
    assert _native.has_handler(address, signal_id) is False
    with pytest.raises(ValueError, match="NULL"):
        _native.has_handler(0, signal_id)


# Buffers mapped for numpy views


def test_map_buffer_lends_the_bytes_read_only_or_writable() -> None:
    import numpy as np

    buffer = Gst.Buffer.new_wrapped(bytes(range(16)))
    mapped = _native.map_buffer(hash(buffer), _native.MAP_READ)
    view = np.ndarray((4, 4), np.uint8, mapped)
    assert view[1, 2] == 6 and not view.flags.writeable
    del view
    mapped.unmap()

    mapped = _native.map_buffer(hash(buffer), _native.MAP_READ | _native.MAP_WRITE)
    view = np.ndarray((16,), np.uint8, mapped)
    view[:] = 9
    del view
    mapped.unmap()
    assert buffer.extract_dup(0, 16) == bytes([9] * 16)
    with pytest.raises(ValueError, match="unmapped"):
        np.ndarray((16,), np.uint8, mapped)  # no new views once unmapped
    mapped.unmap()  # again: nothing


def test_map_buffer_lets_go_of_the_buffer_at_unmap() -> None:
    buffer = Gst.Buffer.new_allocate(None, 16, None)
    mapped = _native.map_buffer(hash(buffer), _native.MAP_WRITE)
    # While mapped, the map holds a reference: a second write map is refused.
    assert _native.map_buffer(hash(buffer), _native.MAP_WRITE) is None
    mapped.unmap()
    # The object still exists, the buffer is writable again (metas can be attached after it).
    again = _native.map_buffer(hash(buffer), _native.MAP_WRITE)
    assert again is not None
    again.unmap()
    assert mapped is not None


def test_map_buffer_refuses_bad_flags_and_null() -> None:
    buffer = Gst.Buffer.new_allocate(None, 16, None)
    with pytest.raises(ValueError, match="flags"):
        _native.map_buffer(hash(buffer), 0)
    with pytest.raises(ValueError, match="flags"):
        _native.map_buffer(hash(buffer), 4)
    with pytest.raises(ValueError, match="NULL"):
        _native.map_buffer(0, _native.MAP_READ)
    with pytest.raises(TypeError):
        _native.MappedBuffer()  # only map_buffer() makes them


def test_add_text_signal_makes_a_plain_signal_with_one_string() -> None:
    from empycustom.gst.signals import add_text_signal

    class_handler_calls: list[str] = []

    class Emitter(GObject.Object):
        __gtype_name__ = "EmPyCustomTestEmitter"

        def do_told(self, text: str) -> None:  # a class handler would call this
            class_handler_calls.append(text)

    signal_id = add_text_signal(Emitter, "told")
    assert signal_id == GObject.signal_lookup("told", Emitter)
    query = GObject.signal_query(signal_id)
    # One string, lent to the handlers (G_SIGNAL_TYPE_STATIC_SCOPE, the type's lowest bit).
    assert [hash(gtype) & ~1 for gtype in query.param_types] == [hash(GObject.TYPE_STRING)]
    assert hash(query.param_types[0]) & 1
    assert query.return_type == GObject.TYPE_NONE
    emitter = Emitter()
    heard: list[str] = []
    emitter.connect("told", lambda _emitter, text: heard.append(text))
    emitter.emit("told", "hello")
    assert heard == ["hello"]
    assert class_handler_calls == []
    with pytest.raises(ValueError, match="already has a signal told"):
        add_text_signal(Emitter, "told")
    with pytest.raises(TypeError, match="GObject type"):
        _native.add_text_signal(hash(GObject.TYPE_STRING), "x")


# in_meta built in C


def test_buffer_in_meta_is_build_in_meta_with_fresh_dicts() -> None:
    from empycustom.frames.layout import FrameLayout
    from empycustom.meta.inmeta import buffer_in_meta, build_in_meta, in_meta_template

    layout = FrameLayout("I420", 6, 4, (8, 4, 4), (0, 32, 40), 48)
    template = in_meta_template(layout)
    buffer = Gst.Buffer.new_allocate(None, 48, None)
    buffer.pts = 5_000_000
    objects = [{"object_id": 1}]
    made = buffer_in_meta(buffer, 7, layout, template, objects)
    expected = build_in_meta(7, 5_000_000, layout, objects)
    stamp = made["frame"][0].pop("timestamp")
    expected["frame"][0].pop("timestamp")
    assert json.dumps(made) == json.dumps(expected)  # same keys in the same order
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", stamp)
    assert made["frame"][0]["object"] is objects
    made["frame"][0]["planes"][0]["stride"] = 99  # a library changing its in_meta
    assert template["planes"][0]["stride"] == 8  # changes no later frame
    assert buffer_in_meta(buffer, 8, layout, template, [])["frame"][0]["planes"][0]["stride"] == 8
    buffer.pts = Gst.CLOCK_TIME_NONE
    assert buffer_in_meta(buffer, 9, layout, template, [])["frame"][0]["buf_pts"] is None


def test_buffer_in_meta_of_a_buffer_with_a_video_meta_takes_its_layout() -> None:
    from empycustom.frames.layout import FrameLayout
    from empycustom.meta.inmeta import buffer_in_meta, in_meta_template

    layout = FrameLayout("RGBA", 4, 2, (16,), (0,), 32)
    buffer = Gst.Buffer.new_allocate(None, 64, None)
    GstVideo.buffer_add_video_meta_full(
        buffer, GstVideo.VideoFrameFlags.NONE, GstVideo.VideoFormat.RGBA, 4, 2, 1, [0, 0, 0, 0],
        [32, 0, 0, 0],
    )
    assert _native.in_meta(hash(buffer), 0, in_meta_template(layout), []) is None
    frame = buffer_in_meta(buffer, 0, layout, in_meta_template(layout), [])["frame"][0]
    assert frame["planes"] == [{"stride": 32, "offset": 0}]


def test_in_meta_refuses_what_is_not_a_template() -> None:
    buffer = Gst.Buffer.new_allocate(None, 8, None)
    with pytest.raises(TypeError, match="template must be a dict"):
        _native.in_meta(hash(buffer), 0, [], [])
    with pytest.raises(TypeError, match="planes must be a list"):
        _native.in_meta(hash(buffer), 0, {"planes": None}, [])
    with pytest.raises(TypeError, match="planes must be dicts"):
        _native.in_meta(hash(buffer), 0, {"planes": [1]}, [])


def test_wall_clock_timestamp_in_c_matches_time_strftime() -> None:
    import time

    for milliseconds in (1589393927323, 1589393927999, 0, 1700000000000):
        local = time.localtime(milliseconds // 1000)
        expected = (time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{milliseconds % 1000:03d}"
                    + time.strftime("%z", local))  # fmt: skip
        assert _native.wall_clock_timestamp(milliseconds) == expected


# One C call per buffer for what the element reads before the library call


def test_read_frame_reads_what_the_three_reads_read() -> None:
    from empycustom.frames.layout import FrameLayout
    from empycustom.meta.chain import carry_from_buffer
    from empycustom.meta.inmeta import buffer_in_meta, in_meta_template
    from empycustom.meta.reading import read_frame

    layout = FrameLayout("RGBA", 4, 2, (16,), (0,), 32)
    template = in_meta_template(layout)
    labels = {"face": 3}
    for upstream in (None, {"frame": [{"emcustom": {"n": 1}, "object": []}]}):
        buffer = roi_with_params(Gst.Structure.new_from_string("detection, confidence=0.5"))
        buffer.pts = 40
        if upstream is not None:
            custom_meta.write_meta_json(buffer, json.dumps(upstream))
        in_meta, objs, rois, carried = read_frame(buffer, buffer, 5, layout, template, labels)
        expected_objects, expected_rois = objects.read_objects(buffer, labels)
        expected = buffer_in_meta(buffer, 5, layout, template, expected_objects)
        expected_carried = carry_from_buffer(expected, buffer)
        for made in (in_meta, expected):
            made["frame"][0].pop("timestamp")
        assert json.dumps(in_meta) == json.dumps(expected)  # same keys in the same order
        assert in_meta["frame"][0]["object"] is objs and objs[0]["class_id"] == 3
        assert rois == expected_rois and carried == expected_carried
        assert ("emcustom" in in_meta["frame"][0]) == (upstream is not None)


def test_begin_frame_reads_objects_and_upstream_meta_from_the_buffer_going_downstream() -> None:
    from empycustom.frames.layout import FrameLayout
    from empycustom.meta.inmeta import in_meta_template

    template = in_meta_template(FrameLayout("RGBA", 4, 2, (16,), (0,), 32))
    source = Gst.Buffer.new_allocate(None, 32, None)
    source.pts = 9
    downstream = roi_with_params(roi_type="car")
    custom_meta.write_meta_json(downstream, '{"frame": []}')
    in_meta, objs, rois, upstream = _native.begin_frame(
        hash(source), hash(downstream), 2, template, {}, from_json
    )
    assert in_meta["frame"][0]["buf_pts"] == 9 and in_meta["frame"][0]["frame_num"] == 2
    assert [o["obj_label"] for o in objs] == ["car"] and len(rois) == 1
    assert upstream == '{"frame": []}'
    _, objs, _, upstream = _native.begin_frame(hash(downstream), hash(source), 2, template, {},
                                               from_json)  # fmt: skip
    assert objs == [] and upstream is None
    with pytest.raises(TypeError, match="label_ids must be a dict"):
        _native.begin_frame(hash(source), hash(source), 0, template, [], from_json)
    with pytest.raises(ValueError, match="NULL"):
        _native.begin_frame(hash(source), 0, 0, template, {}, from_json)


def test_pause_gc_says_whether_the_collector_was_running() -> None:
    import gc

    assert gc.isenabled()
    try:
        assert _native.pause_gc() is True
        assert not gc.isenabled()
        assert _native.pause_gc() is False
    finally:
        gc.enable()


def test_debug_enabled_follows_both_categories_thresholds() -> None:
    from empycustom.gst.debug import DEBUG, LOG, WARNING, DebugCategory

    category = DebugCategory("empycustomtestcat", "test", also="empycustomtestalso")
    Gst.debug_set_active(True)
    try:
        Gst.debug_set_threshold_for_name("empycustomtestcat", Gst.DebugLevel.WARNING)
        Gst.debug_set_threshold_for_name("empycustomtestalso", Gst.DebugLevel.NONE)
        assert category.enabled(WARNING) and not category.enabled(DEBUG)
        Gst.debug_set_threshold_for_name("empycustomtestalso", Gst.DebugLevel.DEBUG)
        assert category.enabled(DEBUG) and not category.enabled(LOG)
    finally:
        Gst.debug_unset_threshold_for_name("empycustomtestcat")
        Gst.debug_unset_threshold_for_name("empycustomtestalso")
    assert not _native.debug_enabled(category._pointer, 0, 99)


def test_has_analytics_meta_sees_a_relation_meta_only() -> None:
    from empycustom.meta import analytics

    buffer = Gst.Buffer.new_allocate(None, 8, None)
    assert _native.has_analytics_meta(hash(buffer)) is False
    if analytics.unavailable() is None:  # GStreamer >= 1.24
        from gi.repository import GstAnalytics

        GstAnalytics.buffer_add_analytics_relation_meta(buffer)
        assert _native.has_analytics_meta(hash(buffer)) is True
        assert _native.has_analytics_meta(hash(Gst.Buffer.new())) is False

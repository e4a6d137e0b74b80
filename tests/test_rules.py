"""The plain rules behind the element: property parsing, out_meta parsing, merging, in_meta."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from empycustom.frames.layout import FrameLayout
from empycustom.library.loader import module_name_for, required_function
from empycustom.library.options import PropertyValueError, parse_json_object
from empycustom.meta.inmeta import build_in_meta, wall_clock_timestamp
from empycustom.meta.merge import add_events, merge_results
from empycustom.meta.outmeta import OutMetaError, meta_json, parse_out_meta, to_json

LAYOUT = FrameLayout(
    format="RGBA", width=64, height=48, strides=(256,), offsets=(0,), size=256 * 48
)


class TestParseJsonObject:
    def test_json_object(self):
        assert parse_json_object('{"a": 1, "b": [1, 2]}', "options") == {"a": 1, "b": [1, 2]}

    def test_python_dict_literal(self):
        assert parse_json_object("{'a': True, 'b': None}", "options") == {"a": True, "b": None}

    @pytest.mark.parametrize("text", [None, "", "   "])
    def test_empty_is_empty_dict(self, text):
        assert parse_json_object(text, "options") == {}

    @pytest.mark.parametrize("text", ["{not json", "[1, 2]", "3", "'text'"])
    def test_not_an_object_names_the_property(self, text):
        with pytest.raises(PropertyValueError, match="property 'events' must be a JSON object"):
            parse_json_object(text, "events")


class TestParseOutMeta:
    def test_json_string(self):
        assert parse_out_meta('[{"a": 1}, {}]', "process_ip") == [{"a": 1}, {}]

    def test_str_of_list_with_numpy_scalars(self):
        text = str([{"mean": np.float64(1.5), "n": np.int64(3), "ok": np.bool_(True)}])
        assert parse_out_meta(text, "process_ip") == [{"mean": 1.5, "n": 3, "ok": True}]

    def test_reference_style_python_literal(self):
        assert parse_out_meta("[{'test_int': 10}]", "process_ip") == [{"test_int": 10}]

    def test_list_and_dict_values(self):
        assert parse_out_meta([{"a": 1}], "process") == [{"a": 1}]
        assert parse_out_meta(({"a": 1},), "process") == [{"a": 1}]

    @pytest.mark.parametrize("value", [{"a": 1}, '{"a": 1}', "{'a': 1}", b'{"a": 1}'])
    def test_one_dict_stays_a_dict_the_frame_result(self, value):
        assert parse_out_meta(value, "process") == {"a": 1}

    @pytest.mark.parametrize("value", [None, "", "  "])
    def test_nothing(self, value):
        assert parse_out_meta(value, "process_ip") == []

    def test_unparsable_text_names_the_function(self):
        with pytest.raises(OutMetaError, match=r"process_ip\(\) returned out_meta that is neither"):
            parse_out_meta("[{'a': os.system('x')}]", "process_ip")

    @pytest.mark.parametrize("value", [5, 1.5, object(), np.zeros(3)])
    def test_wrong_type_names_the_function_and_type(self, value):
        with pytest.raises(OutMetaError, match=r"process\(\) returned out_meta of type"):
            parse_out_meta(value, "process")

    def test_nan_in_python_literal(self):
        (result,) = parse_out_meta("[{'x': nan}]", "process_ip")
        assert math.isnan(result["x"])


class TestToJson:
    def test_numpy_values(self):
        text = to_json({"a": np.int32(2), "b": np.arange(3), "c": np.float32(0.5)})
        assert json.loads(text) == {"a": 2, "b": [0, 1, 2], "c": 0.5}

    def test_non_finite_become_null(self):
        assert json.loads(to_json({"a": [math.nan, math.inf, 1.0]})) == {"a": [None, None, 1.0]}

    def test_unserializable_raises(self):
        # OutMetaError, so the element applies on-error to it like to other bad out_meta.
        with pytest.raises(OutMetaError, match="not JSON serializable"):
            to_json({"a": object()})
        with pytest.raises(OutMetaError, match="not JSON serializable"):
            meta_json({"a": object()})

    def test_meta_json_is_utf8_bytes_where_orjson_encodes(self):
        meta = {"a": "é", "b": [1.5, None]}
        assert meta_json(meta) == to_json(meta).encode() == '{"a":"é","b":[1.5,null]}'.encode()
        # What orjson refuses (an integer beyond 64 bits, a lone surrogate) json writes as str.
        assert meta_json({"n": 2**70}) == to_json({"n": 2**70}) == '{"n":1180591620717411303424}'
        assert meta_json({"s": "\ud800"}) == to_json({"s": "\ud800"}) == '{"s":"\\ud800"}'


class TestMerge:
    def meta(self, objects):
        return build_in_meta(7, 1000, LAYOUT, objects)

    def test_no_objects_first_result_is_frame_meta_rest_ignored(self):
        merged = merge_results(self.meta([]), [{"a": 1}, {"b": 2}])
        frame = merged["frame"][0]
        assert frame["emcustom"] == {"a": 1}
        assert frame["object"] == []
        assert '"b": 2' not in json.dumps(merged)

    def test_no_results_adds_nothing(self):
        merged = merge_results(self.meta([]), [])
        assert "emcustom" not in merged["frame"][0]

    def test_results_per_object_then_frame(self):
        objects = [{"id": 1}, {"id": 2}]
        merged = merge_results(self.meta(objects), [{"r": 1}, {}, {"frame": True}, {"x": 0}])
        frame = merged["frame"][0]
        assert frame["object"] == [{"id": 1, "emcustom": {"r": 1}}, {"id": 2, "emcustom": {}}]
        assert frame["emcustom"] == {"frame": True}

    def test_fewer_results_than_objects(self):
        merged = merge_results(self.meta([{"id": 1}, {"id": 2}]), [{"r": 1}])
        assert merged["frame"][0]["object"] == [{"id": 1, "emcustom": {"r": 1}}, {"id": 2}]
        assert "emcustom" not in merged["frame"][0]

    def test_events_recorded_only_when_delivered(self):
        meta = self.meta([])
        add_events(meta, {})
        assert "events" not in meta["frame"][0]
        add_events(meta, {"door": "open"})
        assert meta["frame"][0]["events"] == {"door": "open"}


class TestInMeta:
    def test_reference_layout(self):
        frame = build_in_meta(3, 5_000_000, LAYOUT)["frame"][0]
        assert frame["frame_num"] == 3
        assert frame["buf_pts"] == 5_000_000
        assert frame["source_frame_width"] == 64 and frame["source_frame_height"] == 48
        assert frame["format"] == "RGBA"
        assert frame["object"] == []
        assert frame["planes"] == [{"stride": 256, "offset": 0}]

    def test_missing_pts_is_null(self):
        assert build_in_meta(0, 2**64 - 1, LAYOUT)["frame"][0]["buf_pts"] is None

    def test_timestamp_is_iso8601_with_milliseconds_and_offset(self):
        stamp = wall_clock_timestamp(1589393927.323)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", stamp)
        assert stamp.split(".")[1][:3] == "323"
        # Same second, later milliseconds: the cached prefix must not leak the old fraction.
        assert wall_clock_timestamp(1589393927.999).split(".")[1][:3] == "999"


class TestLibraryNaming:
    def test_same_file_name_in_two_folders(self, tmp_path):
        first, second = tmp_path / "a" / "lib.py", tmp_path / "b" / "lib.py"
        assert module_name_for(str(first)) != module_name_for(str(second))
        assert module_name_for(str(first)) == module_name_for(str(first))

    def test_required_function(self):
        assert required_function(True) == "process_ip"
        assert required_function(False) == "process"

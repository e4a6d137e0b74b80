"""Property-based tests: arbitrary text and values thrown at options/events parsing and at
out_meta parsing and serialization. Each either gives a usable value or raises the one error
type its caller reports; nothing else escapes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from empycustom.gst.runtime import Gst
from empycustom.library.options import PropertyValueError, parse_json_object
from empycustom.meta.merge import add_events, merge_results
from empycustom.meta.outmeta import OutMetaError, parse_out_meta, to_json

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text of every kind: lone surrogates included, JSON and Python-literal shaped text among it.
any_text = st.text(st.characters(exclude_categories=()), max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)
numpy_values = st.sampled_from(
    [
        np.float32(1.5), np.float64("nan"), np.float16("inf"), np.int64(-7), np.uint8(255),
        np.bool_(True), np.str_("s"), np.array([[1, 2], [3, 4]]), np.array([np.nan, 1.0]),
        np.datetime64("2024-01-01"), np.array(["a", None], dtype=object), np.complex64(1j),
    ]
)  # fmt: skip
python_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.binary(max_size=20) | numpy_values | st.just(1j) | st.just(Ellipsis)
    | st.builds(object) | st.frozensets(st.integers(), max_size=3),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8) | st.integers() | st.tuples(st.integers()), inner),
    max_leaves=30,
)  # fmt: skip
text_forms = st.one_of(
    any_text,
    json_values.map(json.dumps),
    python_values.map(repr),
    st.integers(1, 20_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 20_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


def strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@SETTINGS
@given(text_forms)
def test_options_and_events_parse_to_a_json_object_or_a_named_error(text):
    for name in ("options", "events"):
        try:
            value = parse_json_object(text, name)
        except PropertyValueError as error:
            assert f"property '{name}'" in str(error)
            continue
        assert isinstance(value, dict)
        json.dumps(value)  # fit for the merged meta


@SETTINGS
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_json_objects_round_trip_through_parsing(value):
    parsed = parse_json_object(json.dumps(value), "options")
    assert json.dumps(parsed, sort_keys=True) == json.dumps(value, sort_keys=True)


@SETTINGS
@given(st.one_of(text_forms, st.binary(max_size=300), python_values))
def test_out_meta_parses_to_results_or_out_meta_error(value):
    try:
        results = parse_out_meta(value, "process_ip")
    except OutMetaError as error:
        assert "process_ip()" in str(error)
        return
    assert isinstance(results, (list, dict))  # a dict: the frame's result
    # What the element does next: merge, serialize, or report OutMetaError.
    in_meta = {"frame": [{"frame_num": 0, "object": [{"id": 1}]}]}
    merge_results(in_meta, results)
    add_events(in_meta, {"e": 1})
    try:
        text = to_json(in_meta)
    except OutMetaError:
        return
    assert strict_json(text)["frame"][0]["events"] == {"e": 1}


@SETTINGS
@given(python_values)
def test_to_json_gives_strict_json_or_out_meta_error(value):
    try:
        text = to_json(value)
    except OutMetaError as error:
        assert "out_meta holds a value JSON cannot" in str(error)
        return
    strict_json(text)


@SETTINGS
@given(json_values)
def test_to_json_keeps_finite_values_and_nulls_the_rest(value):
    def finite(v: object) -> object:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, list):
            return [finite(item) for item in v]
        if isinstance(v, dict):
            return {key: finite(item) for key, item in v.items()}
        return v

    assert strict_json(to_json(value)) == finite(value)


def deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        "[" * 200_000,
        "{'a': " * 100_000 + "1" + "}" * 100_000,
        b"\xff\xfe\x00[1, 2]",
        "x" * 10_000_000,
        "1" * 10_000,  # beyond Python's int digit limit
    ],
    ids=["deep json", "deep literal", "not utf-8", "10 MB", "huge int"],
)
def test_extreme_out_meta_text_is_an_out_meta_error(value):
    with pytest.raises(OutMetaError):
        parse_out_meta(value, "process_ip")


def test_extreme_values_are_an_out_meta_error():
    circular: list = []
    circular.append(circular)
    for value in (deep_list(100_000), circular, {(1, 2): "tuple key"}, [1j], [object()]):
        with pytest.raises(OutMetaError):
            to_json(value)
    # Large but plain is fine.
    assert len(to_json(["x" * 10_000_000])) == 10_000_004


def test_numpy_values_serialize():
    meta = {
        "f": np.float32(0.5),
        "nan": np.float64("nan"),
        "a": np.array([[1, 2]]),
        "b": np.bool_(1),
    }
    assert strict_json(to_json(meta)) == {"f": 0.5, "nan": None, "a": [[1, 2]], "b": True}


@settings(max_examples=100, deadline=None)
@given(text_forms)
def test_element_properties_take_any_text(text):
    """Set on a real element: accepted (and readable back as JSON) or refused with a warning."""
    if "\x00" in text:
        return  # a GObject string property cannot hold NUL; PyGObject refuses it first
    element = Gst.ElementFactory.make("empycustom")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: PyGObject refuses them before the element
        with pytest.raises(TypeError, match="could not convert"):
            element.set_property("events", text)
        return
    bus = Gst.Bus.new()
    element.set_bus(bus)
    element.set_property("events", text)
    events = json.loads(element.get_property("events"))
    refused = bus.pop_filtered(Gst.MessageType.WARNING)
    assert events == {} if refused else isinstance(events, dict)
    element.set_property("options", text)  # stopped: checked when the element starts
    assert element.get_property("options") == text
    element.set_bus(None)

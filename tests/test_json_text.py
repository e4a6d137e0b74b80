"""out_meta as JSON text: the frame's result kept as text (`_native.scan_json`, `JsonText`).

The scanner against json.loads on a corpus and on random and mutated JSON, then the merged meta
of text against the same content returned as Python objects, then real pipelines. Then the same
for Python literal text (str(list_of_dicts)): its scan against ast.literal_eval and the old path.
"""

from __future__ import annotations

import ast
import json
import math
import random
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empycustom._native import scan_json
from empycustom.meta import outmeta
from empycustom.meta.merge import merge_result, merge_results
from empycustom.meta.outmeta import JsonText, OutMetaError, _parse_text, parse_out_meta, to_json

OBJECT, ARRAY, EMPTY_OBJECT, EMPTY_ARRAY, SCALAR = 1, 2, 3, 4, 0


def compacted(text: str) -> bytes:
    """The text's UTF-8 without the whitespace between tokens (a plain reference)."""
    out, in_string, escaped = [], False, False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char not in " \t\n\r":
            out.append(char)
            in_string = char == '"'
    return "".join(out).encode()


def json_loads_or_none(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def check_accepted(text: str, element: int = 0) -> tuple[int, bytes, int, int, int]:
    scanned = scan_json(text, element)
    assert scanned is not None, text
    kind, data, start, end, element_kind = scanned
    assert data == compacted(text)
    assert orjson.loads(data) == json.loads(text)
    assert json.loads(data) == json.loads(text)
    return scanned


def mutated(rng: random.Random, seeds: list[str], alphabet: list[str], count: int) -> Any:
    """`count` texts, each a seed with one to three random insertions, deletions or
    replacements of alphabet's strings."""
    for _ in range(count):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            where = rng.randint(0, len(text))
            edit = rng.random()
            if edit < 0.4:
                text = text[:where] + rng.choice(alphabet) + text[where:]
            elif edit < 0.7:
                text = text[:where] + text[where + 1 :]
            else:
                text = text[:where] + rng.choice(alphabet) + text[where + 1 :]
        yield text


ACCEPTED = [
    '{"a": 1}',
    ' \t\n\r{ "a" : [ 1 , 2 , { } , [ ] ] , "b" : null } \n',
    "[]",
    "{}",
    "[[], {}]",
    "0",
    "-0",
    "-0.0",
    "1e5",
    "1E+2",
    "1e-2",
    "-1.25E-10",
    "123456789012345678",  # 18 digits: a 64-bit integer
    "-123456789012345678",
    "0.123456789012345678",
    "0.0001396849423730286",  # long fractions: every reader rounds them alike
    "1.00000000000000000000000000000000000001",
    "1e280",
    "1e-400",  # underflows to 0.0 for every reader
    "12345678e-999",
    "true",
    "false",
    "null",
    '"text"',
    '""',
    '"a \\" quote, a \\\\ backslash, \\/ \\b \\f \\n \\r \\t"',
    '"\\u0000 \\u001f \\u00e9 \\uFFFF \\uD83D\\uDE00 \\ud83d\\ude00"',
    '"é ü 中文 😀 \x7f"',
    '{"é": 1, "中": 2, "😀": [3]}',
    '{"a": {"a": {"a": 1}}, "b": {"a": 2}}',  # the same key in different objects
    '{"a": 1, "ab": 2, "abcdefgh": 3, "abcdefghi": 4, "abcdefghX": 5, "Xbcdefghi": 6}',
    '{"": 1, " ": 2}',
    '["a b", "  ", "{\\"x\\": 1}"]',
    '{"long": "' + "x" * 1000 + '", "z": "' + "y\\n" * 300 + '"}',
    "[" * 512 + "]" * 512,
    "{" + ", ".join(f'"k{i}": {i}' for i in range(32)) + "}",
    "{" + ", ".join(f'"k{i}": {i}' for i in range(33)) + "}",  # keys sorted when it closes
    "{" + ", ".join(f'"k{i}": {{"k{i}": {i}}}' for i in range(1000)) + "}",
    '[1, 2.5, "s", true, false, null, {"a": [1]}, [{"b": null}]]',
]

# Valid JSON refused: json.loads reads it differently from its compact text, or may (the full
# parse decides, as before).
REFUSED_VALID = [
    '{"a": 1, "a": 2}',  # json.loads keeps the last
    '{"x": {"b": 1, "c": 2, "b": 3}}',
    '{"abcdefghijk": 1, "abcdefghijk": 2}',
    '{"a": 1, "\\u0061": 2}',  # a key with an escape
    '{"\\n": 1}',
    '"\\ud800"',  # lone surrogates
    '"\\udc00"',
    '"\\ud800\\u0041"',
    '"\\ud800 x"',
    "1234567890123456789",  # 19 digits: beyond 64 bits json.loads is exact
    "-1234567890123456789",
    "12345678901234567890.5",
    "1e0000000000000000001",
    "1e281",
    "1e400",  # infinity
    "-1E+400",
    "[" * 513 + "]" * 513,
    "{" + ", ".join(f'"k{i}": {i}' for i in range(32)) + ', "k0": 0}',
    "{" + ", ".join(f'"k{i}": {i}' for i in range(100)) + ', "k0": 0}',
    "{" + ", ".join(f'"k{i}": {i}' for i in range(100)) + ', "k99": 0}',
    '[{"k50": 1, ' + ", ".join(f'"k{i}": [{{"a": 1}}]' for i in range(100)) + "}]",
    "NaN",
    "[Infinity]",
    "-Infinity",
]

INVALID = [
    "",
    " ",
    "[1,]",
    "[,1]",
    '{"a": 1,}',
    '{"a" 1}',
    '{"a": }',
    "{1: 2}",
    "{'a': 1}",
    "[{'a': 1}]",
    "['x']",
    "[1 2]",
    "[1] [2]",
    "[1]x",
    '"a',
    '"a\\"',
    '"a\tb"',  # control characters in strings
    '"a\nb"',
    '"\x00"',
    '"\x1f"',
    '"\\x41"',
    '"\\u12"',
    '"\\u12G4"',
    '"\\',
    "01",
    "-01",
    "00",
    "1.",
    ".5",
    "+1",
    "1e",
    "1e+",
    "-",
    "--1",
    "1.5.2",
    "0x10",
    "tru",
    "True",
    "nul",
    "None",
    "[",
    "]",
    "{",
    '{"a": [1}',
    "[1}",
    '{"a": 1]',
    "\ufeff[1]",  # a BOM
    "[1]\x00",  # a NUL, also where a token could go on
    "[1\x00]",
    "1\x00",
    "-\x00",
    "1.\x00",
    "1e\x00",
    "1e+\x00",
    '{"a"\x00: 1}',
    '"\\\x00"',
    '"\\u00\x00"',
    "nan",
    "inf",
]


class TestScanJson:
    @pytest.mark.parametrize("text", ACCEPTED)
    def test_accepted_and_compacted(self, text):
        check_accepted(text)

    @pytest.mark.parametrize("text", REFUSED_VALID)
    def test_refused_where_compact_text_could_mean_something_else(self, text):
        assert json_loads_or_none(text)[0]
        assert scan_json(text, 0) is None

    @pytest.mark.parametrize("text", INVALID)
    def test_invalid_refused(self, text):
        assert not json_loads_or_none(text)[0]
        assert scan_json(text, 0) is None

    def test_lone_surrogate_str_is_refused(self):
        assert scan_json('["\ud800"]', 0) is None

    @pytest.mark.parametrize(
        ("text", "kind"),
        [('{"a": 1}', OBJECT), ("[1]", ARRAY), (" { } ", EMPTY_OBJECT), ("[ ]", EMPTY_ARRAY),
         ("1", SCALAR), ('"s"', SCALAR), ("null", SCALAR)],
    )  # fmt: skip
    def test_kinds(self, text, kind):
        assert check_accepted(text)[0] == kind

    def test_element_spans(self):
        text = '[ {"a": 1} , [1, [2]], {}, [], 5, "x, y", null, {"b": {"c": "]"}} ]'
        values = json.loads(text)
        kinds = [OBJECT, ARRAY, EMPTY_OBJECT, EMPTY_ARRAY, SCALAR, SCALAR, SCALAR, OBJECT]
        for index, (value, kind) in enumerate(zip(values, kinds, strict=True)):
            _, data, start, end, element_kind = check_accepted(text, index)
            assert json.loads(data[start:end]) == value
            assert element_kind == kind
            assert data[start - 1 : start] in (b"[", b",")
            assert data[end : end + 1] in (b"]", b",")
        assert check_accepted(text, len(values))[2:] == (-1, -1, -1)
        assert check_accepted('{"a": [1, 2]}', 0)[2:] == (-1, -1, -1)  # not an array

    def test_non_ascii_strs_of_every_width(self):
        for text in ('[ "é" , 1 ]', '[ "中" , 1 ]', '[ "😀" , 1 ]', '{"a": "x中😀é"}'):
            _, data, start, end, _ = check_accepted(text, 1 if text[0] == "[" else 0)
            if text[0] == "[":
                assert data[start:end] == b"1"

    def test_keys_compare_whole(self):
        # Keys that share their first and last 8 bytes and their size are still different.
        check_accepted('{"abcdefgh_1_abcdefgh": 1, "abcdefgh_2_abcdefgh": 2}')
        assert scan_json('{"abcdefgh_1_abcdefgh": 1, "abcdefgh_1_abcdefgh": 2}', 0) is None

    def test_many_open_objects_with_keys(self):
        # More keys open at once than the scanner's first key table holds.
        text = "".join('{"a": 1, "b": 2, "c": ' for _ in range(100)) + "0" + "}" * 100
        check_accepted(text)

    def test_long_text(self):
        detections = [
            {"id": i, "label": "person", "score": 0.5, "box": [i % 640, i % 480, 32, 64]}
            for i in range(2000)
        ]
        for text in (json.dumps({"detections": detections}), json.dumps(detections, indent=2)):
            check_accepted(text)

    def test_mutated_json_agrees_with_json_loads(self):
        """Random edits of valid texts: what the scanner accepts, json.loads reads as the same
        value as its compact text; what json.loads refuses, the scanner refuses."""
        rng = random.Random(15)
        alphabet = list(' \t\n{}[]:,"\\/0123456789-+.eEtrufalsn\x00\x1f\x7fé中😀') + [
            "\\u", "\\ud800", "\\udc00", "\\u00e9", "true", "null", '"a"', "1e400",
        ]  # fmt: skip
        seeds = [text for text in ACCEPTED if len(text) < 200] + [
            '[{"a": 1, "b": [true, false]}, {"c": "d\\"e"}, -1.5e-3]',
            '{"x": {"y": [1, 2, {"z": null}]}, "w": "\\u00e9\\n"}',
        ]
        accepted = 0
        for text in mutated(rng, seeds, alphabet, 20000):
            valid, value = json_loads_or_none(text)
            scanned = scan_json(text, 0)
            if scanned is None:
                continue
            assert valid, text
            assert scanned[1] == compacted(text), text
            assert orjson.loads(scanned[1]) == value, text
            accepted += 1
        assert accepted > 2000  # the edits left many texts valid


# Random JSON, written with random spacing.
_keys = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=12
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e250, max_value=1e250)
    | st.text(st.characters(blacklist_categories=("Cs",)))
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=_values, indent=st.sampled_from([None, 0, 1, 3, "\t"]), ascii_only=st.booleans())
def test_random_json_is_accepted_and_compacted(value, indent, ascii_only):
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    if has_escaped_key(value, ascii_only):  # refused: the full parse decides
        assert scan_json(text, 0) is None
        return
    kind, data, *_ = check_accepted(text)
    assert data == json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only).encode()


def has_escaped_key(value: Any, ascii_only: bool) -> bool:
    if isinstance(value, list):
        return any(has_escaped_key(item, ascii_only) for item in value)
    if isinstance(value, dict):
        return any(
            json.dumps(key, ensure_ascii=ascii_only)[1:-1] != key
            or has_escaped_key(item, ascii_only)
            for key, item in value.items()
        )
    return False


# The merged meta: text against the same content as Python objects.


def in_meta(objects: int, frame_result: Any = None, object_result: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"frame_num": 3, "object": []}
    for index in range(objects):
        obj: dict[str, Any] = {"object_id": index, "params": {}}
        if object_result is not None:
            obj["emcustom"] = object_result
        frame["object"].append(obj)
    if frame_result is not None:
        frame["emcustom"] = frame_result
    return {"frame": [frame]}


def merged_both_ways(text: str, objects: int, **upstream: Any) -> tuple[str, str, Any]:
    """to_json of the merge of `text` kept as text, and parsed as before; the results."""
    kept_meta, parsed_meta = in_meta(objects, **upstream), in_meta(objects, **upstream)
    kept = parse_out_meta(text, "process_ip", kept_meta)
    parsed = parse_out_meta(text, "process_ip")
    if kept != []:
        merge_results(kept_meta, kept)
    if parsed != []:
        merge_results(parsed_meta, parsed)
    return to_json(kept_meta), to_json(parsed_meta), kept


TEXTS = [
    '{"detections": [{"id": 1, "label": "person", "score": 0.5}], "count": 1}',
    '[{"a": 1}, {"frame": true, "n": [1, 2]}]',
    '[{"a": 1}, {"b": 2}, {"c": 3}, {"frame": "x"}, {"beyond": 1}, 7]',
    '[{"a": 1}, {}, [1, 2], {"frame": 0}]',
    "[[1, 2], [3], {}]",
    '[{"a": 1}, {"b": 2}]',
    "[1, 2, 3, 4]",
    '{"é": "ü 中 😀", "esc": "\\u00e9\\n\\"", "num": [1E+2, -0, 1.5e-3]}',
    '[{"x": 1}, {"frame": {"nested": {"deep": [[]]}}}]',
    "{}",
    "[]",
    "[{}]",
    "[{}, {}, {}, {}]",
    '{"a": 1, "a": 2}',  # refused: parsed as before
    '[{"big": 123456789012345678901234567890}]',
    "[{'python': 'literal'}]",
]
UPSTREAM = [
    {},
    {"frame_result": {"u": 1, "count": 0}},
    {"frame_result": [9]},
    {"frame_result": "text"},
    {"object_result": {"o": 1}},
    {"frame_result": {"u": 1}, "object_result": {"a": 0}},
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("objects", [0, 1, 3])
@pytest.mark.parametrize("upstream", UPSTREAM, ids=lambda u: "-".join(u) or "none")
def test_merged_meta_is_the_same_as_parsed(text, objects, upstream):
    kept, parsed, results = merged_both_ways(text, objects, **upstream)
    assert json.loads(kept) == json.loads(parsed)
    assert compacted(kept) == kept.encode()  # compact JSON, as before
    if text.isascii() and "E" not in text and "-0" not in text:  # the same spellings
        assert kept == parsed


@pytest.mark.parametrize("objects", [0, 1, 3])
def test_the_frame_result_alone_is_kept_as_text(objects):
    text = '[{"a": 1}, {"b": 2}, {"c": 3}, {"frame": [1, 2]}, {"beyond": 1}]'
    results = parse_out_meta(text, "process_ip", in_meta(objects))
    values = json.loads(text)
    assert type(results) is list and len(results) == len(values)
    for index, (result, value) in enumerate(zip(results, values, strict=True)):
        if index == objects:
            assert type(result) is JsonText and result.parse() == value
        else:
            assert result == value  # per-object results and those beyond: parsed
    whole = parse_out_meta('{ "frame" : [1, 2] }', "process_ip", in_meta(objects))
    assert type(whole) is JsonText and whole.data == b'{"frame":[1,2]}' and whole.is_object


def test_without_in_meta_text_is_parsed():
    assert parse_out_meta('{"a": 1}', "process") == {"a": 1}
    assert parse_out_meta('[{"a": 1}]', "process") == [{"a": 1}]


@pytest.mark.parametrize(
    "broken", [{}, {"frame": []}, {"frame": [{}]}, {"frame": [{"object": 5}]}, {"frame": None}]
)
def test_a_broken_in_meta_parses_the_text(broken):
    assert parse_out_meta('[{"a": 1}]', "process", broken) == [{"a": 1}]


class TestMergeRules:
    def test_an_object_text_over_a_dict_merges_key_by_key(self):
        assert merge_result({"a": 1, "b": 1}, JsonText(b'{"b":2,"c":3}', True)) == {
            "a": 1, "b": 2, "c": 3,
        }  # fmt: skip

    def test_text_replaces_anything_else(self):
        for old, new in (
            ({"a": 1}, JsonText(b"[1]", False)),
            ([1], JsonText(b'{"b":2}', True)),
            (5, JsonText(b'{"b":2}', True)),
            (None, JsonText(b'{"b":2}', True)),
        ):
            assert merge_result(old, new) is new

    def test_an_empty_frame_result_changes_nothing(self):
        for text in ("{}", "[{}]", "[{}, {}]", " { } "):
            kept, parsed, _ = merged_both_ways(text, 1, frame_result={"u": 1})
            assert json.loads(kept)["frame"][0]["emcustom"] == {"u": 1}
            assert kept == parsed


class TestToJson:
    def test_text_is_written_as_it_is(self):
        meta = {"a": JsonText(b'{"x":[1,2.50,1E+2]}', True), "b": [JsonText(b"[1]", False)]}
        assert to_json(meta) == '{"a":{"x":[1,2.50,1E+2]},"b":[[1]]}'

    def test_the_stdlib_fallback_parses_text(self):
        # An integer beyond 64 bits elsewhere: orjson refuses, json writes it.
        meta = {"big": 2**70, "r": JsonText(b'{"x":"\\u00e9","n":[1,2]}', True), "f": 1.5}
        assert json.loads(to_json(meta)) == {"big": 2**70, "r": {"x": "é", "n": [1, 2]}, "f": 1.5}
        meta["nan"] = float("nan")  # and with a NaN to drop
        assert json.loads(to_json(meta))["nan"] is None

    def test_merged_meta_with_a_big_integer_result(self):
        text = '[{"big": 123456789012345678901234567890}, {"frame": [1]}]'
        kept, parsed, results = merged_both_ways(text, 1)
        assert kept == parsed
        assert json.loads(kept)["frame"][0]["object"][0]["emcustom"]["big"] == (
            123456789012345678901234567890
        )


def test_compact_output_keeps_spaces_inside_strings():
    kept, _, _ = merged_both_ways('{ "a b" : " c , d : [ ] " , "e" : [ 1 , 2 ] }', 0)
    assert '"emcustom":{"a b":" c , d : [ ] ","e":[1,2]}' in kept
    assert not re.search(r"[:,] ", kept.replace('" c , d : [ ] "', ""))


# Real pipelines: the same content as text and as Python objects gives the same meta everywhere.
# The objects come from an upstream element's add_object(): the same boxes in the same order in
# every run (facedetect's order varies with the machine's load).

DETECTOR_LIB = """
import empycustom

def process_ip(buffer, in_meta, options, events):
    for index in range(3):
        empycustom.add_object(in_meta, "face", (10 + 90 * index, 20, 80, 80))
    return None
"""

RESULTS_LIB = """
import json

def results(in_meta, options):
    objects = in_meta["frame"][0]["object"]
    per_object = [
        {"face": i, "label": "face", "confidence": 0.5, "note": "é 中 , : [ ]"}
        for i, _ in enumerate(objects)
    ]
    frame = {
        "faces": len(objects),
        "detections": [{"id": i, "box": (i, 2 * i, 32, 64), "score": 0.25} for i in range(50)],
        "text": 'a "quoted" é',
        "small": 1e-05,
    }
    value = frame if options["shape"] == "dict" else per_object + [frame]
    if options["as"] == "text":
        return json.dumps(value, indent=1)
    return str(value) if options["as"] == "pylit" else value

def process_ip(buffer, in_meta, options, events):
    return results(in_meta, options)

def process(buffer, in_meta, options, events):
    return buffer, results(in_meta, options)
"""


def frame_value(faces: int) -> dict[str, Any]:
    """RESULTS_LIB's frame result."""
    return {
        "faces": faces,
        "detections": [{"id": i, "box": (i, 2 * i, 32, 64), "score": 0.25} for i in range(50)],
        "text": 'a "quoted" é',
        "small": 1e-05,
    }


def frame_text(faces: int) -> str:
    """The frame's result, as the merged meta holds it when kept as text."""
    return json.dumps(frame_value(faces), separators=(",", ":"))


def without_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timestamps(v) for k, v in value.items() if k != "timestamp"}
    if isinstance(value, list):
        return [without_timestamps(v) for v in value]
    return value


def run_both_ways(
    pipeline, write_library, source: str, extra: str, shape: str, objects: int, kind: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """run_results of the library `source` returning its results as `kind`, then as the
    objects themselves: the same meta, the same results on the objects."""
    detector = write_library(DETECTOR_LIB) if objects else None
    lib = write_library(source)
    as_kind = run_results(pipeline, detector, lib, extra, shape, kind)
    as_objects = run_results(pipeline, detector, lib, extra, shape, "objects")
    for key in ("meta", "frames", "rois"):
        assert as_kind[key] == as_objects[key], key
    frame_meta = as_kind["meta"][0]["frame"][0]
    assert len(frame_meta["object"]) == objects
    assert frame_meta["emcustom"]["faces"] == objects
    assert frame_meta["emcustom"]["detections"][1]["box"] == [1, 2, 32, 64]
    if shape == "list" and objects:
        assert [r["face"] for r in as_kind["rois"][0]] == [0, 1, 2]
        assert as_kind["rois"][0][0]["note"] == "é 中 , : [ ]"
    return as_kind, as_objects


def run_results(
    pipeline, detector: str | None, lib: str, extra: str, shape: str, kind: str
) -> dict[str, Any]:
    from empycustom.meta import custom_meta
    from empycustom.meta import objects as roi_objects

    texts: list[str] = []

    def configure(pipe: Any) -> None:
        element = pipe.get_by_name("e")
        element.set_property("options", json.dumps({"shape": shape, "as": kind}))
        element.connect("new-meta", lambda _e, text: texts.append(text))

    result = pipeline(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=320,height=240 ! "
        + (f"empycustom custom-lib={detector} in-place=true ! " if detector else "")
        + f"empycustom name=e custom-lib={lib} {extra} ! appsink name=sink",
        configure=configure,
        keep_buffers=True,
        timeout=60,
    )
    assert result.eos, result.error_texts
    assert not result.warnings, result.warning_texts
    assert len(result.frames) == 2 and len(texts) == 2
    buffer_texts = [custom_meta.read_meta_json(frame.buffer) for frame in result.frames]
    assert buffer_texts == texts
    for text in texts:
        assert compacted(text) == text.encode()
    last = result.pipeline.get_by_name("e").get_property("last-meta")
    assert last == texts[-1]
    return {
        "texts": texts,
        "meta": [without_timestamps(json.loads(text)) for text in texts],
        "frames": [without_timestamps(frame.meta) for frame in result.frames],
        "rois": [
            [o["params"].get("emcustom") for o in roi_objects.read_objects(frame.buffer, {})[0]]
            for frame in result.frames
        ],
    }


@pytest.mark.parametrize(
    ("extra", "shape", "objects"),
    [
        ("in-place=true", "list", 3),
        ("in-place=true", "dict", 3),
        ("in-place=false", "list", 3),
        ("in-place=false", "dict", 3),
        ("in-place=true", "list", 0),
        ("in-place=false", "dict", 0),
        ("in-place=true workers=2 worker-kind=thread", "list", 3),
        ("in-place=true workers=2 worker-kind=process", "list", 3),
        ("in-place=false workers=2 worker-kind=process", "dict", 0),
    ],
)
def test_text_and_objects_give_the_same_meta(pipeline, write_library, extra, shape, objects):
    as_text, as_objects = run_both_ways(
        pipeline, write_library, RESULTS_LIB, extra, shape, objects, "text"
    )
    # The frame's result went into the merged meta as the library's text, compacted.
    for text in as_text["texts"]:
        assert '"emcustom":' + frame_text(objects) in text
    for text in as_objects["texts"]:
        assert frame_text(objects) not in text  # orjson writes "é", json.dumps wrote "\u00e9"


# Python literals: str(list_of_dicts), written as JSON by scan_json(text, element, True).


def as_json_values(value: Any) -> Any:
    """A literal's value as JSON holds it: tuples are lists."""
    if isinstance(value, (list, tuple)):
        return [as_json_values(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json_values(item) for key, item in value.items()}
    return value


def check_literal(text: str, element: int = 0) -> tuple[int, bytes, int, int, int]:
    """The scan accepts the literal, and its JSON reads as ast.literal_eval's value: the same
    types (True is not 1, -0.0 not 0.0, a float not an int), the same key order."""
    scanned = scan_json(text, element, True)
    assert scanned is not None, text
    expected = repr(as_json_values(ast.literal_eval(text)))
    data = scanned[1]
    assert repr(orjson.loads(data)) == expected, text
    assert repr(json.loads(data)) == expected, text
    assert compacted(data.decode()) == data  # compact
    return scanned


LITERALS = [
    "[{'a': 1}]",
    '[{"a": 1}]',
    "{'label': 'person', 'score': 0.5, 'box': (1, 2, 3, 4), 'ok': True, 'no': False, 'n': None}",
    repr(["it's", 'say "hi"', "both ' and \"", "\\", "\\'", "\\\\n", "tab\there", "nl\nx"]),
    repr("".join(chr(code) for code in range(0x20)) + "\x7f\x80\x9f\xa0\xad"),
    repr(["é ü 中文", "😀 👍🏽", "\u2028\u2029", "\ufeff", "\U0010ffff", "\ue000", "\uffff"]),
    repr({"é": 1, "中": 2, "😀": [3], "'": 4, '"': 5, "\\": 6, "\n": 7, "\x00": 8}),
    "['\\x41\\x7f\\xff', '\\u00e9\\u4e2d', '\\U0001F600\\U00000041', '\\b\\f\\r']",
    '["\\x41", "a\'b", "\\"", "\\\'"]',
    "[1, -1, 0, -0, 123456789012345678, -123456789012345678]",
    "[0.5, -0.0, 1e-05, 1e+16, 1.5e+280, 5e-324, 1.7976931348623157e+280, 0.1, 1e22]",
    "[1E5, 1e-400, 2.5E-3, 0.0001396849423730286]",
    "(1,)",
    "()",
    "(1, 2)",
    "((), ((1,),), [()])",
    "[1, 2,]",
    "{'a': 1,}",
    "({'a': 1}, {'b': 2},)",
    "{}",
    "[]",
    "[{}]",
    " \t\n\r[ 1 ,\n 2 ,\r\n { 'a' :\t3 } ] \n",
    "{'a': {'a': {'a': 1}}, 'b': {'a': 2}}",  # the same key in different dicts
    "{'a': 1, \"b\": 2, 'ab': 3}",
    "{'': 1, ' ': 2}",
    "'text'",
    "5",
    "None",
    "True",
    "[" * 100 + "]" * 100,
    "{" + ", ".join(f"'k{i}': {i}" for i in range(33)) + "}",
    "{" + ", ".join(f"'k{i}': {{'k{i}': {i}}}" for i in range(1000)) + "}",
    repr({"long": "x" * 1000, "z": "y\n" * 300, "q": "'\"" * 300}),
    str([{"id": i, "label": "person", "score": 0.5, "box": (i, i, 3, 4)} for i in range(300)]),
]

# Valid literals the scan leaves to ast (the old path decides: same values, or the same error).
LITERALS_REFUSED = [
    "[np.float64(nan)]",
    "[np.float64(1, 2)]",
    "[np.float64()]",
    "[np.float64 (1)]",
    "[np . float64(1)]",
    "[np.float64(1).real]",
    "[np.float64(1)(2)]",
    "[np.float64]",
    "[np.float64(x=1)]",
    "[np.float64(*[1])]",
    "[array([1, 2], dtype=int8)]",
    "[array([1., 2.])]",
    "[foo(1)]",
    "[list((1, 2))]",
    "[np.complex128(1+2j)]",
    "[None.True_]",
    "[np.if.float64(1)]",
    "[é.float64(1)]",
    "[np.float64é(1)]",
    "[np.nan]",
    "[{np.str_('a'): 1}]",
    "[nan]",
    "[inf, -inf]",
    "{1, 2}",
    "{'a'}",
    "[{'a', 'b'}]",
    "[b'bytes']",
    "[u'a']",
    "[r'a\\n']",
    "[f'a']",
    "['a' 'b']",  # concatenation
    "['''a''']",
    "{1: 'a'}",  # keys that are not str
    "{(1, 2): 'a'}",
    "{None: 1}",
    "{'a': 1, 'a': 2}",  # the dict keeps the last
    "{'a': 1, \"a\": 2}",
    "{'a': 1, '\\x61': 2}",
    "{'é': 1, '\\xe9': 2}",
    "{" + ", ".join(f"'k{i}': {i}" for i in range(40)) + ", 'k3': 0}",
    "['\\ud800']",  # surrogates
    "['\\udc00\\ud800']",
    "['\\ud83d\\ude00']",  # two lone surrogates in Python, one emoji in JSON
    "['\\U0000d800']",
    "['\\101']",  # octal
    "['\\0']",
    "['\\N{BULLET}']",
    "['\\a\\v']",
    "['a\\\nb']",  # a line continuation in a string
    "['\\d']",  # an unknown escape: kept with its backslash
    "['a\tb']",  # a raw control character (Python reads it; repr never writes it)
    "[1234567890123456789]",  # 19 digits
    "[1.5e+300]",  # may overflow: to_json would write null
    "[1e309]",
    "[1_000]",
    "[0x10]",
    "[0o7]",
    "[1.]",
    "[.5]",
    "[1j]",
    "[00]",
    "[+1]",
    "[- 1]",
    "[-(1)]",
    "[(1)]",  # (1) is 1, not a tuple
    "(1)",
    "((1, 2))",
    "[1, # a comment\n 2]",
    "[1, \\\n 2]",
    "[1 if True else 2]",
    "[Ellipsis]",
    "[...]",
    "[" * 101 + "]" * 101,
    "{**{'a': 1}}",
    "[*[1]]",
    "[1, 2][0]",
    "[1] + [2]",
    "\ufeff[1]",
]

LITERALS_INVALID = [
    "[",
    "[1, 2",
    "['a]",
    "['a\"]",
    "['a\nb']",  # a newline in a string
    "['\\x4']",
    "['\\u12']",
    "['\\U0011ffff']",
    "['\\",
    "[1,,2]",
    "[,]",
    "(,)",
    "{'a' 1}",
    "{'a': }",
    "[1 2]",
    "[1] [2]",
    "[1]x",
    "Tru",
    "Nonesuch",
    "[None1]",
    "[1\x00]",
    "['a\x00']",
    "['\\x4\x00']",
]


@pytest.fixture
def old_path(monkeypatch):
    """parse_out_meta as it was before the literal scan: JSON text scanned, literals by ast."""
    scan = outmeta.scan_json

    def json_only(text: str, element: int, literal: bool = False) -> Any:
        return None if literal else scan(text, element)

    def parse(text: str, function_name: str, meta: dict[str, Any] | None) -> Any:
        with monkeypatch.context() as patch:
            patch.setattr(outmeta, "scan_json", json_only)
            return parse_out_meta(text, function_name, meta)

    return parse


def outcome(parse: Any, text: str, meta: dict[str, Any] | None) -> tuple[str, str]:
    """What parse_out_meta gives, with a JsonText read: its value, or its error."""
    try:
        results = parse(text, "process", meta)
    except OutMetaError as error:
        return "error", str(error)
    if type(results) is JsonText:
        results = results.parse()
    if type(results) is list:
        results = [item.parse() if type(item) is JsonText else item for item in results]
    return "value", repr(results)


# numpy's reprs (numpy 2: np.float64(1.5)), read as outmeta._literal reads them.
LITERALS_NUMPY = [
    "[np.float64(1.5)]",
    "[{'score': np.float32(0.5), 'n': np.int64(3), 'ok': np.True_, 'no': np.False_}]",
    "{'a': array([1, 2]), 'b': array([[1, 2], [3, 4]]), 'c': np.str_('x'), 'd': numpy.uint8(7)}",
    "[float(1), int(2.5), bool(1), np.bool_(True), np.float64(-0.0), np.float64(1e-05)]",
    "[np.float64( 1.5 ), np.float64(1.5,), np.float64(\n1)]",
    "[np.float64(np.float64(1)), np.array(array((1,)))]",
    "[True_, False_, true, false, null, x.y.True_]",
    "[float('nan')]",  # the str 'nan', as before
    "[true, false, null]",
    "array([1])",  # not a list: evaluated by ast, the same
    "np.float64(1)",
]


class TestScanLiteral:
    @pytest.mark.parametrize("text", LITERALS)
    def test_accepted_as_ast_reads_it(self, text):
        check_literal(text)

    @pytest.mark.parametrize("text", LITERALS_REFUSED + LITERALS_INVALID)
    def test_refused(self, text):
        assert scan_json(text, 0, True) is None

    @pytest.mark.parametrize("text", LITERALS_REFUSED + LITERALS_INVALID)
    @pytest.mark.parametrize("objects", [0, 1])
    @pytest.mark.filterwarnings("ignore:invalid escape sequence")
    def test_refused_literals_are_parsed_as_before(self, old_path, text, objects):
        """What the scan refuses goes down the old path: the same values, or the same error."""
        assert outcome(parse_out_meta, text, in_meta(objects)) == outcome(
            old_path, text, in_meta(objects)
        )
        assert outcome(parse_out_meta, text, None) == outcome(old_path, text, None)

    @pytest.mark.parametrize("text", LITERALS_INVALID)
    def test_invalid_literals_are_errors_as_before(self, text):
        with pytest.raises(OutMetaError, match="neither JSON nor a Python literal"):
            parse_out_meta(text, "process", in_meta(0))

    @pytest.mark.parametrize("text", LITERALS_NUMPY)
    def test_numpy_wrappers_are_read_as_before(self, old_path, text):
        scanned = scan_json(text, 0, True)
        assert scanned is not None
        assert repr(orjson.loads(scanned[1])) == repr(
            as_json_values(_parse_text(text, "process", literal_scanned=True))
        )
        for meta in (in_meta(0), in_meta(1), None):
            assert outcome(parse_out_meta, text, meta) == outcome(old_path, text, meta)

    def test_numpy_reprs(self, old_path):
        import numpy as np

        values = [
            {"score": np.float32(0.25), "mean": np.float64(12.5), "count": np.int64(3),
             "small": np.uint8(7), "hit": np.bool_(True), "miss": np.False_,
             "label": np.str_("face"), "box": np.array([1, 2, 3, 4]),
             "grid": np.array([[1, 2], [3, 4]], dtype=np.int64)},
            {"frame": np.float64(1e-05), "tuple": (np.int32(1), np.int16(2))},
        ]  # fmt: skip
        text = str(values)
        scanned = scan_json(text, 1, True)
        assert scanned is not None, text
        assert orjson.loads(scanned[1]) == as_json_values(
            _parse_text(text, "process", literal_scanned=True)
        )
        assert outcome(parse_out_meta, text, in_meta(1)) == outcome(old_path, text, in_meta(1))

    @pytest.mark.parametrize(
        "name",
        sorted(outmeta._NUMPY_WRAPPERS)
        + ["float80", "str", "list", "dict", "set", "tuple", "complex", "bytes", "repr", "eval",
           "Float64", "float64_", "_float64", "float6", "arra", "arrays"],
    )  # fmt: skip
    def test_the_wrappers_are_outmetas(self, name):
        accepted = scan_json(f"[np.{name}(1), {name}(2)]", 0, True) is not None
        assert accepted == (name in outmeta._NUMPY_WRAPPERS)

    @pytest.mark.parametrize(
        "name", sorted(outmeta._NAMED_CONSTANTS) + ["True__", "none", "NULL", "TRUE", "nan_"]
    )
    def test_the_constants_are_outmetas(self, name):
        value = outmeta._NAMED_CONSTANTS.get(name, math.nan)
        scanned = scan_json(f"[np.{name}, {name}]", 0, True)
        if value is None or isinstance(value, bool):
            assert orjson.loads(scanned[1]) == [value, value]
        else:  # nan, inf, or not a constant
            assert scanned is None

    def test_strings_are_written_as_orjson_writes_them(self):
        strings = [
            "".join(chr(code) for code in range(0x80)),
            "é中😀\u2028\x80\xa0\U0010ffff",
            "'\"\\",
        ]
        for value in (strings, {s: s for s in strings}):
            assert scan_json(repr(value), 0, True)[1] == orjson.dumps(value)
            escaped = repr(value).encode("ascii", "backslashreplace").decode()
            assert scan_json(escaped, 0, True)[1] == orjson.dumps(value)  # \xNN \uNNNN \UNNNNNNNN

    def test_element_spans(self):
        text = "[ {'a': 1} , (1, [2]), {}, (), 5, 'x, y', None, {'b': {'c': ']'}}, [1,], ]"
        values = as_json_values(ast.literal_eval(text))
        kinds = [OBJECT, ARRAY, EMPTY_OBJECT, EMPTY_ARRAY, SCALAR, SCALAR, SCALAR, OBJECT, ARRAY]
        for index, (value, kind) in enumerate(zip(values, kinds, strict=True)):
            _, data, start, end, element_kind = check_literal(text, index)
            assert orjson.loads(data[start:end]) == value
            assert element_kind == kind
            assert data[start - 1 : start] in (b"[", b",")
            assert data[end : end + 1] in (b"]", b",")
        assert check_literal(text, len(values))[2:] == (-1, -1, -1)
        assert check_literal("(1, (2, 3))", 1)[1:] == (b"[1,[2,3]]", 3, 8, ARRAY)
        assert check_literal("{'a': [1, 2]}", 0)[2:] == (-1, -1, -1)  # not a list

    @pytest.mark.parametrize(
        ("text", "kind"),
        [("{'a': 1}", OBJECT), ("[1]", ARRAY), ("(1,)", ARRAY), (" { } ", EMPTY_OBJECT),
         ("[ ]", EMPTY_ARRAY), ("( )", EMPTY_ARRAY), ("1", SCALAR), ("'s'", SCALAR)],
    )  # fmt: skip
    def test_kinds(self, text, kind):
        assert check_literal(text)[0] == kind

    def test_keys_compare_as_values(self):
        check_literal("{'abcdefgh_1_abcdefgh': 1, 'abcdefgh_2_abcdefgh': 2, 'a': 3, 'b': 4}")
        for text in ("{'abcdefgh_1_abcdefgh': 1, \"abcdefgh_1_abcdefgh\": 2}",
                     "{'\\n': 1, '\\x0a': 2}", "{'😀': 1, '\\U0001f600': 2}"):  # fmt: skip
            assert scan_json(text, 0, True) is None

    def test_the_largest_growth_fits(self):
        """Every character grows (a " becomes \\", \\x01 becomes \\u0001): the output buffer
        holds twice the text."""
        for text in ("'" + '"' * 5000 + "'", "'" + "\\x01" * 3000 + "'", "'\"'", "['\\x01']"):
            check_literal(text)

    def test_mutated_literals_agree_with_the_old_path(self):
        """Random edits of literals: what the scan accepts, the old path (JSON, else ast) reads
        as the same value; nothing the old path refused is accepted."""
        rng = random.Random(1515)
        alphabet = list(" \t\n{}[]():,'\"\\0123456789-+.eExuUTrueFalsNn\x00\x1f\x7fé中😀#") + [
            "\\x41", "\\u00e9", "\\ud800", "\\U0001f600", "True", "None", "'a'", '"b"', "1e400",
            "np.float64(1)", "-0.0", "np.True_", "array(", "np.str_(", "float(", ")",
        ]  # fmt: skip
        seeds = [text for text in LITERALS if len(text) < 200] + [
            "[{'a': 1, 'b': (True, False)}, {'c': 'd\\'e\"'}, -1.5e-05, None]",
            "[{'s': np.float32(0.5), 'a': array([1, 2]), 't': np.True_}, np.str_('x')]",
            "{'x': {'y': [1, 2, {'z': None}]}, 'w': '\\xe9\\n\\U0001f600', \"v\": ()}",
        ]
        accepted = 0
        for text in mutated(rng, seeds, alphabet, 20000):
            scanned = scan_json(text, 0, True)
            if scanned is None:
                continue
            try:
                before = _parse_text(text, "process", literal_scanned=True)
            except OutMetaError:
                pytest.fail(f"accepted what the old path refused: {text!r}")
            assert repr(orjson.loads(scanned[1])) == repr(as_json_values(before)), text
            accepted += 1
        assert accepted > 2000  # the edits left many texts valid


# Random literals: repr() of nested lists, tuples and dicts of str, int, float, bool and None.
_literal_strs = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_literal_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e250, max_value=1e250)
    | st.sampled_from([1e-05, -0.0, 0.0, 5e-324, 1e16, 1.5e-300, 0.1])
    | _literal_strs
)
_literal_values = st.recursive(
    _literal_scalars,
    lambda children: (
        st.lists(children, max_size=6)
        | st.lists(children, max_size=6).map(tuple)
        | st.dictionaries(_literal_strs, children, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=st.lists(_literal_values, max_size=5), spaces=st.sampled_from(["", " ", "\n  ", "\t"]))
def test_random_literals_are_read_as_ast_reads_them(value, spaces):
    text = repr(value)
    check_literal(text)
    # The frame's result, respaced (outside strings: reprs of the items hold none of these).
    spaced = "[" + ("," + spaces).join(repr(item) for item in value) + spaces + "]"
    _, data, *_ = check_literal(spaced, len(value) - 1)
    assert data == scan_json(text, 0, True)[1]


LITERAL_TEXTS = [
    str({"detections": [{"id": 1, "label": "person", "score": 0.5}], "count": 1}),
    str([{"a": 1}, {"frame": True, "n": (1, 2), "s": 'it\'s "x" é\n'}]),
    str([{"a": 1}, {"b": 2}, {"c": 3}, {"frame": "x"}, {"beyond": 1}, 7]),
    str([{"a": 1}, {}, [1, 2], {"frame": 0, "small": 1e-05, "neg": -0.0}]),
    str(([1, 2], (3,), {})),
    str([{"a": None}, {"b": 2}]),
    str([1, 2, 3, 4]),
    str({"é": "ü 中 😀", "esc": "\x00\x1f\\'\"", "num": [1e16, -0, 1.5e-3]}),
    str([{"x": 1}, {"frame": {"nested": {"deep": [[()]]}}}]),
    "{}",
    "[]",
    "()",
    "[{}]",
    "[{}, {}, {}, {}]",
    "{'a': 1, 'a': 2}",  # refused: parsed as before
    "[{'big': 123456789012345678901234567890}]",
    "[{'np': np.float64(1.5)}, {'frame': np.int64(3)}]",
]


@pytest.mark.parametrize("text", LITERAL_TEXTS)
@pytest.mark.parametrize("objects", [0, 1, 3])
@pytest.mark.parametrize("upstream", UPSTREAM, ids=lambda u: "-".join(u) or "none")
def test_merged_meta_of_literals_is_the_same_as_parsed(old_path, text, objects, upstream):
    """The merged meta of a literal, kept as text, against the old path's (ast)."""
    kept_meta, parsed_meta = in_meta(objects, **upstream), in_meta(objects, **upstream)
    kept = parse_out_meta(text, "process_ip", kept_meta)
    parsed = old_path(text, "process_ip", parsed_meta)
    if kept != []:
        merge_results(kept_meta, kept)
    if parsed != []:
        merge_results(parsed_meta, parsed)
    kept_text, parsed_text = to_json(kept_meta), to_json(parsed_meta)
    assert repr(json.loads(kept_text)) == repr(json.loads(parsed_text))
    assert compacted(kept_text) == kept_text.encode()
    if "e-05" not in text and "e+16" not in text:  # the same spellings: orjson's
        assert kept_text == parsed_text


def test_a_literal_frame_result_is_kept_as_text():
    text = str([{"a": 1}, {"frame": (1, 2), "q": "it's"}, {"beyond": 1}])
    results = parse_out_meta(text, "process_ip", in_meta(1))
    assert results[0] == {"a": 1} and results[2] == {"beyond": 1}
    assert type(results[1]) is JsonText and results[1].is_object
    assert results[1].data == b'{"frame":[1,2],"q":"it\'s"}'
    whole = parse_out_meta("{'frame': (1, 2)}", "process_ip", in_meta(0))
    assert type(whole) is JsonText and whole.data == b'{"frame":[1,2]}' and whole.is_object


def test_without_in_meta_literals_are_read_by_the_scan_too():
    assert parse_out_meta("{'a': (1, True)}", "process") == {"a": [1, True]}
    assert parse_out_meta("[{'a': None}, {'b': 'é'}]", "process") == [{"a": None}, {"b": "é"}]
    assert parse_out_meta("[{'a': np.float64(0.5)}]", "process") == [{"a": 0.5}]


# RESULTS_LIB's results with numpy's values in the frame's, as str(value) or the value itself.
LITERAL_LIB = (
    RESULTS_LIB
    + """
import numpy as np

plain_results = results

def results(in_meta, options):
    value = plain_results(in_meta, {**options, "as": "objects"})
    frame = value if options["shape"] == "dict" else value[-1]
    frame.update(mean=np.float64(0.75), hit=np.True_, count=np.int64(7), grid=np.array([1, 2]))
    return str(value) if options["as"] == "pylit" else value
"""
)


@pytest.mark.parametrize(
    ("extra", "shape", "objects"),
    [
        ("in-place=true", "list", 3),
        ("in-place=false", "dict", 3),
        ("in-place=true", "list", 0),
        ("in-place=true workers=2 worker-kind=process", "list", 3),
    ],
)
def test_literal_text_and_objects_give_the_same_meta(
    pipeline, write_library, extra, shape, objects
):
    """A library returning str(list), numpy's values in it: the same meta as the list itself,
    the frame's result kept as the literal's JSON."""
    import numpy as np

    as_literal, as_objects = run_both_ways(
        pipeline, write_library, LITERAL_LIB, extra, shape, objects, "pylit"
    )
    assert as_literal["meta"][0]["frame"][0]["emcustom"]["grid"] == [1, 2]
    # The frame's result went into the merged meta as the literal's JSON: its numbers spelled
    # as repr() wrote them (1e-05; orjson writes 0.00001), the rest as orjson writes it.
    frame = frame_value(objects)
    frame.update(mean=np.float64(0.75), hit=np.True_, count=np.int64(7), grid=np.array([1, 2]))
    kept = scan_json(str(frame), 0, True)[1].decode()
    assert '"small":1e-05,"mean":0.75,"hit":true,"count":7,"grid":[1,2]}' in kept
    assert kept.replace("1e-05", "0.00001") == to_json(frame)
    for text in as_literal["texts"]:
        assert '"emcustom":' + kept in text
    for text in as_objects["texts"]:
        assert kept not in text
        assert '"emcustom":' + kept.replace("1e-05", "0.00001") in text

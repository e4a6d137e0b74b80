"""What a custom library returns as out_meta, turned into a list of per-object results.

Accepted: a JSON string; the Python-literal string `str(list_of_dicts)` makes (numpy scalars
such as `np.float64(1.5)` included); a list or dict; `''` or `None` for nothing.

A frame's result that comes as JSON text is mostly written out again as JSON, unchanged: parsed
into Python objects, 100 kB of it cost more than everything else the element does with the same
content returned as a dict. Given the frame's in_meta, `parse_out_meta` keeps it as text
(`JsonText`, checked and compacted in C by `_native.scan_json`); the merged meta embeds it as
it is, and merging parses it only where its keys go into an upstream result's. The Python
literal text of `str(list_of_dicts)` (the reference's libraries return it) is written as such
JSON by the same scan, in its literal mode (numpy's wrappers such as `np.float64(1.5)` too);
only what that refuses (sets, nan, keys that are not str, ...) is evaluated with `ast`.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

import orjson

from empycustom._native import has_digit_run, refill, scan_json


class OutMetaError(ValueError):
    """out_meta that cannot be understood."""


# Callables that numpy's repr writes around values: np.float64(1.5), np.str_('a'), array([1]).
_NUMPY_WRAPPERS = frozenset(
    {
        "float16", "float32", "float64", "float128", "longdouble", "double", "half", "single",
        "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "intp",
        "uintp", "longlong", "ulonglong", "bool_", "bool", "str_", "bytes_", "array", "float",
        "int", "complex64", "complex128",
    }
)  # fmt: skip
_NAMED_CONSTANTS = {
    "nan": math.nan, "NaN": math.nan, "inf": math.inf, "Infinity": math.inf,
    "True_": True, "False_": False, "true": True, "false": False, "null": None,
}  # fmt: skip


class JsonText:
    """A frame's result that came as JSON text, kept as that text: a non-empty object or array,
    strict JSON without whitespace, which means to every JSON reader what json.loads reads
    (see `_native.scan_json`). `to_json` writes it as it is; `parse()` gives its value."""

    __slots__ = ("data", "is_object")

    def __init__(self, data: bytes, is_object: bool) -> None:
        self.data = data
        self.is_object = is_object

    def parse(self) -> Any:
        return orjson.loads(self.data)

    def __repr__(self) -> str:
        return f"JsonText({self.data[:60]!r}{'...' if len(self.data) > 60 else ''})"


# _native.scan_json's kinds of JSON values.
_JSON_OBJECT, _JSON_ARRAY = 1, 2


def parse_out_meta(
    value: Any, function_name: str, in_meta: dict[str, Any] | None = None
) -> list[Any] | dict[str, Any] | JsonText:
    """Return the results a library's out_meta stands for: a list (one per object, then one
    for the frame), or a dict, which is the frame's result whatever the number of objects.

    Given the frame's `in_meta` (after the library's call: its objects say which result is the
    frame's), out_meta text that is strict JSON, or a Python literal `scan_json` writes as
    JSON, keeps the frame's result as text: a `JsonText` instead of the dict, or in the list.
    Per-object results are always parsed.

    Raises `OutMetaError` (naming `function_name`) for values that are neither.
    """
    if value is None:
        return []
    if type(value) is list:  # the common case first; merging does not change the list
        return value
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if not text or text.isspace():  # without strip()'s copy of a long text
            return []
        kept = None if in_meta is None else _results_keeping_text(text, in_meta)
        if kept is not None:
            return kept
        value = _parse_text(text, function_name, literal_scanned=in_meta is not None)
    if isinstance(value, dict):
        return value
    if isinstance(value, (list, tuple)):
        return list(value)
    raise OutMetaError(
        f"{function_name}() returned out_meta of type {type(value).__name__}; expected a JSON "
        "string, a list of dicts, a dict, '' or None"
    )


def _results_keeping_text(text: str, in_meta: dict[str, Any]) -> list[Any] | JsonText | None:
    """The results of JSON or Python literal text with the frame's kept as text where it is a
    non-empty object or array; None where `scan_json` accepts the text as neither (then it is
    parsed)."""
    try:
        frame_index = len(in_meta["frame"][0]["object"])
    except (KeyError, IndexError, TypeError):  # a library broke in_meta: merging will say so
        return None
    scanned = scan_json(text, frame_index)
    if scanned is None:  # str(list)'s Python literal, most often: the scan refuses it at a '
        scanned = scan_json(text, frame_index, True)
        if scanned is None:
            return None
    kind, data, start, end, frame_kind = scanned
    if kind == _JSON_OBJECT:
        return JsonText(data, is_object=True)
    if kind != _JSON_ARRAY or frame_kind not in (_JSON_OBJECT, _JSON_ARRAY):
        return None if kind != _JSON_ARRAY else orjson.loads(data)
    # data[start - 1] is the "[" or "," before the frame's result, data[end] the "]" or "," after.
    results = orjson.loads(data[: start - 1] + b"]") if start > 1 else []
    results.append(JsonText(data[start:end], is_object=frame_kind == _JSON_OBJECT))
    if end + 1 < len(data):  # results beyond the frame's are ignored, but analytics asks any()
        results.extend(orjson.loads(b"[" + data[end + 1 :]))
    return results


def _parse_text(text: str, function_name: str, literal_scanned: bool = False) -> Any:
    """JSON, else a Python literal: through `scan_json`'s literal mode unless `literal_scanned`
    (it refused the text already), else `ast`."""
    try:
        return from_json(text)
    except ValueError:
        pass
    except RecursionError:
        raise OutMetaError(f"{function_name}() returned out_meta nested too deeply") from None
    scanned = None if literal_scanned else scan_json(text, -1, True)
    if scanned is not None:
        return orjson.loads(scanned[1])
    try:
        return _literal(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError) as error:
        raise OutMetaError(
            f"{function_name}() returned out_meta that is neither JSON nor a Python literal: "
            f"{error}; out_meta starts with {text[:80]!r}"
        ) from None


def _literal(node: ast.AST) -> Any:
    """Evaluate a literal expression, also the numpy wrappers numpy's repr writes."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_literal(element) for element in node.elts]
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ValueError("'**' is not allowed in out_meta")
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _literal(node.operand)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in _NAMED_CONSTANTS:
            return _NAMED_CONSTANTS[name]
    if isinstance(node, ast.Call) and len(node.args) == 1:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in _NUMPY_WRAPPERS:
            return _literal(node.args[0])
    raise ValueError(f"unsupported expression {ast.unparse(node)[:60]!r}")


def _json_default(value: Any) -> Any:
    """Convert what `json` cannot: numpy scalars and arrays, sets, bytes; `JsonText` is
    written as it is."""
    if type(value) is JsonText:
        return orjson.Fragment(value.data)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    raise TypeError(f"out_meta value of type {type(value).__name__} is not JSON serializable")


# orjson writes dataclasses and datetimes itself; json refuses them, and so must to_json.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
# orjson reads integers beyond 64 bits as floats; json keeps them exact. They have 19 digits
# or more; the check is one pass in C (a regular expression cost more than the parse).
_LONG_NUMBER_DIGITS = 19


def to_json(meta: Any, function_name: str | None = None) -> str:
    """Serialize merged meta as strict, compact JSON (NaN and infinities become null).

    orjson encodes (several times faster than json); json encodes what orjson refuses
    (integers beyond 64 bits, lone surrogates, keys that are not strings). Raises
    `OutMetaError` for what JSON cannot hold: other objects, non-string keys such as tuples,
    circular or too deeply nested containers; its message names `function_name()` when given.
    """
    return meta_text(meta_json(meta, function_name))


def meta_json(meta: Any, function_name: str | None = None) -> bytes | str:
    """`to_json`, left as orjson's UTF-8 bytes (valid UTF-8, as orjson writes only that) when
    orjson encodes it: what goes into the buffer meta and the signal is then not decoded into
    a str and encoded back (a pass over the text, 2% of a buffer's cost at 200 objects).
    A str where json encodes it."""
    try:
        return orjson.dumps(meta, default=_json_default, option=_ORJSON_OPTIONS)
    except TypeError:
        return _stdlib_json(meta, function_name)


def meta_text(text: bytes | bytearray | str | None) -> str | None:
    """What `meta_json` or `keep_text` returned (or None), as a str."""
    return text if text is None or type(text) is str else text.decode()


# glibc's default M_MMAP_THRESHOLD: texts from this size on are those it gives back (keep_text).
LARGE_TEXT = 128 * 1024


def keep_text(
    kept: bytes | bytearray | str | None, text: bytes | str
) -> bytes | bytearray | str:
    """`text` (what `meta_json` returned) to keep until the next buffer's, for `last-meta`.

    Large orjson bytes are copied into `kept` when it is a bytearray, in place: the previous
    buffer's text is then not alive while the next one is written. Kept, it was freed amid the
    next buffer's texts (buffer meta, signal), and glibc then gave the top of the heap back to
    the kernel, to fault it in again at the next buffer: at 1000 objects (237 kB of JSON),
    about 50 page faults and 30-75 us of system time a buffer, in most processes. Smaller
    texts are kept as they are (copying them would cost more than it saves).
    """
    if type(text) is not bytes or len(text) < LARGE_TEXT:
        return text
    if type(kept) is bytearray:
        refill(kept, text)  # under the GIL: a reader never sees half of it
        return kept
    return bytearray(text)


def from_json(text: str) -> Any:
    """`json.loads`, through orjson where it gives the same result."""
    if not has_digit_run(text, _LONG_NUMBER_DIGITS):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # json also reads NaN, Infinity, lone surrogates
            pass
    return json.loads(text)


def _stdlib_default(value: Any) -> Any:
    """`_json_default` for `json`, which cannot embed text: `JsonText` is parsed."""
    return value.parse() if type(value) is JsonText else _json_default(value)


def _stdlib_json(meta: Any, function_name: str | None) -> str:
    whose = f"{function_name}() returned out_meta that" if function_name else "out_meta"
    try:
        return json.dumps(meta, default=_stdlib_default, allow_nan=False, separators=(",", ":"))
    except ValueError:  # NaN or an infinity somewhere, or a circular reference
        pass
    except (TypeError, RecursionError) as error:
        raise OutMetaError(f"{whose} holds a value JSON cannot: {error}") from None
    try:
        return json.dumps(
            _without_non_finite(meta),
            default=_stdlib_default,
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError, RecursionError) as error:
        raise OutMetaError(f"{whose} holds a value JSON cannot: {error}") from None


def _without_non_finite(value: Any) -> Any:
    if type(value) is JsonText:  # finite: scan_json refuses what could overflow
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):
        return _without_non_finite(value.tolist())
    if isinstance(value, dict):
        return {k: _without_non_finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_without_non_finite(v) for v in value]
    return value

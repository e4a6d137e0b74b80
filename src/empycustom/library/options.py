"""Parsing of the JSON-object properties (`options`, `events`)."""

from __future__ import annotations

import ast
import json
from typing import Any


class PropertyValueError(ValueError):
    """A property value that is not a JSON object (nor a Python dict literal)."""


def parse_json_object(text: str | None, property_name: str) -> dict[str, Any]:
    """Parse a property value holding a JSON object; a Python dict literal is accepted too.

    `None` and blank strings give an empty dict. Anything else that is not an object (or holds
    values JSON cannot, such as a set or bytes from a Python literal) raises `PropertyValueError`
    naming the property.
    """
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as json_error:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise PropertyValueError(
                f"property '{property_name}' must be a JSON object, got {_shorten(text)!r}: "
                f"{json_error}"
            ) from None
    if not isinstance(value, dict):
        raise PropertyValueError(
            f"property '{property_name}' must be a JSON object, got {type(value).__name__} "
            f"{_shorten(text)!r}"
        )
    try:
        json.dumps(value)  # events go into the merged meta; both properties are JSON objects
    except (TypeError, ValueError, RecursionError) as error:
        raise PropertyValueError(
            f"property '{property_name}' must be a JSON object, got {_shorten(text)!r}: {error}"
        ) from None
    return value


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

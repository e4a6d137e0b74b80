"""Topic, stream and file names with fields of the frame: `cameras/{source}/meta`."""

from __future__ import annotations

import string
from typing import Any

# Fields known before the first frame, so that a typo is refused when the element starts.
IDENTITY_FIELDS = ("source", "frame_num")
FRAME_FIELDS = ("format", "width", "height", "source_frame_width", "source_frame_height")


class TemplateError(ValueError):
    pass


class DestinationTemplate:
    """A name with `{field}` parts; formatting it per frame costs nothing when it is constant
    for a source."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        fields = []
        try:
            for _literal, name, spec, conversion in string.Formatter().parse(text):
                if name is None:
                    continue
                if name not in IDENTITY_FIELDS + FRAME_FIELDS or spec or conversion:
                    known = ", ".join("{" + f + "}" for f in IDENTITY_FIELDS + FRAME_FIELDS)
                    raise TemplateError(f"unknown field '{{{name}}}' in '{text}' (known: {known})")
                fields.append(name)
        except ValueError as error:
            if isinstance(error, TemplateError):
                raise
            raise TemplateError(f"'{text}' is not a valid name template: {error}") from None
        for character in ("\t", "\n", "\r"):
            if character in text or character in source:
                raise TemplateError("names and the source cannot contain tabs or line breaks")
        self.needs_frame = any(name in FRAME_FIELDS for name in fields)
        self.constant = None if "frame_num" in fields or self.needs_frame else self._format({})

    def _format(self, values: dict[str, Any]) -> str:
        return self.text.format_map({"source": self.source, **values})

    def format(self, frame_num: int, frame: dict[str, Any] | None) -> str:
        if self.constant is not None:
            return self.constant
        values: dict[str, Any] = {"frame_num": frame_num}
        for name in FRAME_FIELDS:
            values[name] = (frame or {}).get(name, "unknown")
        return self._format(values)

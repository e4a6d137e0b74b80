"""Appending JSON lines to a file or standard output (`aimeta location=`, `file://` URIs)."""

from __future__ import annotations

import sys

STDOUT = "-"


class JsonLinesFile:
    """One JSON text per line, appended and flushed line by line (readers see whole lines).

    Opening raises OSError when the file cannot be opened for appending."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._file = None if location == STDOUT else open(location, "ab")  # noqa: SIM115

    def write_line(self, text: bytes | str) -> None:
        if self._file is None:  # whatever sys.stdout is now (pytest may have replaced it)
            sys.stdout.write((text.decode() if isinstance(text, bytes) else text) + "\n")
            sys.stdout.flush()
            return
        self._file.write((text.encode() if isinstance(text, str) else text) + b"\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

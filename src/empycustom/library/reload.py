"""Hot reload of a custom library: noticing that its file changed, and swapping versions."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from empycustom.library.loader import CustomLibrary, LibraryError, load_library, start_library

RELOAD_MODES = ("off", "on-change")
CHECK_INTERVAL_S = 0.25

FileSignature = tuple[int, int, int]


def file_signature(path: str) -> FileSignature | None:
    """What tells two versions of a file apart: modification time, size and inode."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)


class FileWatcher:
    """Tells when a file has changed, then stayed the same for one check interval.

    `changed()` is cheap enough for every buffer: it looks at the file (one `os.stat`) at most
    once per `interval` seconds. Waiting for two identical looks skips the half-written file an
    editor leaves between truncating and writing.
    """

    def __init__(
        self,
        path: str,
        interval: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.interval = interval
        self._clock = clock
        self._loaded = file_signature(path)
        self._last_seen = self._loaded
        self._next_check = clock() + interval

    def changed(self) -> bool:
        """True once for each new version of the file that has stopped changing."""
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + self.interval
        seen = file_signature(self.path)
        stable = seen == self._last_seen
        self._last_seen = seen
        if stable and seen != self._loaded:
            self._loaded = seen
            return True
        return False

    def mark_loaded(self) -> None:
        """The file as it is now is the version running (after a reload asked for by hand)."""
        self._loaded = self._last_seen = file_signature(self.path)


def load_new_version(
    running: CustomLibrary, in_place: bool, options: dict[str, Any], batch: bool = False
) -> CustomLibrary:
    """Import the library file again and start it, next to the version that keeps running.

    The new version starts before the running one stops, so a failure (raised as
    `LibraryError`, with the traceback) leaves the running version untouched.
    """
    try:
        new = load_library(running.path, in_place, batch)
        try:
            start_library(new, options)
        except LibraryError:
            new.unload()
            raise
    except LibraryError:
        sys.modules[running.module.__name__] = running.module  # the name is the running one's
        raise
    return new

"""Running a library's start() so that no state change waits for it for minutes.

start() may load a model for minutes. Called directly from the element's start vfunc it would
hold the application inside `set_state(PLAYING)`, and a `set_state(NULL)` from another thread
would wait behind it. `BackgroundStart` runs it in its own thread instead: the element waits a
moment (so a quick start() that fails still fails the state change), then lets the state change
go on; the first buffer waits for start() to finish. An element that stops first abandons the
job: when start() returns, stop() is called and the library unloaded there, so `start` and
`stop` stay paired.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from empycustom.library.loader import CustomLibrary, LibraryError, start_library, stop_library

START_WAIT_S = 1.0  # how long the start vfunc waits before letting the state change go on
POLL_S = 0.05  # how often a buffer waiting for start() looks for a flush or a stop


class BackgroundStart:
    """One call of a library's start(), in a daemon thread."""

    def __init__(
        self,
        library: CustomLibrary,
        options: dict[str, Any],
        on_late_failure: Callable[[LibraryError, bool], None],
    ) -> None:
        self.library = library
        self.options = options
        self.error: LibraryError | None = None
        self._on_late_failure = on_late_failure
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._late = False  # nobody waits in wait(): failures go to on_late_failure
        self._abandoned = False
        self._thread = threading.Thread(
            target=self._run, name=f"empycustom-start:{library.path}", daemon=True
        )
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True when start() has returned (see `error`).

        After a False, a failure of start() goes to `on_late_failure(error, element_stopped)`
        instead, and so does a failure of the stop() that follows an abandoned start().
        """
        if self._done.wait(timeout):
            return True
        with self._lock:
            if self._done.is_set():
                return True
            self._late = True
        return False

    def wait_unless(self, cancelled: Callable[[], bool]) -> bool:
        """Wait until start() has returned (True) or `cancelled()` turns true (False)."""
        while not self._done.wait(POLL_S):
            if cancelled():
                return False
        return True

    def abandon(self) -> bool:
        """The element stops. True if start() still runs: stop() will follow it there."""
        with self._lock:
            if self._done.is_set():
                return False
            self._abandoned = True
            return True

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        error: LibraryError | None = None
        try:
            start_library(self.library, self.options)
        except LibraryError as failure:
            error = failure
            self.library.unload()
        with self._lock:
            self.error = error
            late, abandoned = self._late, self._abandoned
            if error is None or not late:
                self._done.set()
        if error is not None and late:
            # Reported before a waiting buffer sees it: the element's error comes first.
            self._on_late_failure(error, abandoned)
            self._done.set()
        elif abandoned:
            failure = stop_library(self.library, self.options)
            if failure is not None:
                self._on_late_failure(failure, True)

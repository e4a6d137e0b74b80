"""Noticing a library call that runs too long, without slowing the calls that do not.

A `CallWatch` belongs to one caller (an element). `begin()` and `end()` around each call only
store a few values (well under a microsecond); one daemon thread shared by every watch looks at
them a few times a second and calls the watch's `on_slow` once per call that has run longer
than its limit, from that thread, with the Python stack the call is at. The call itself is
left alone: Python cannot stop a thread, and a library may hold locks or devices.

The thread needs the GIL to look: a call stuck in C code that holds the GIL is not seen until
it releases it (pure-Python loops, sleeps, locks, I/O and numpy release it regularly).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from empycustom._native import CallSlot

POLL_S = 0.1  # the longest a slow call goes unnoticed past its limit


@dataclass(frozen=True)
class SlowCall:
    """What `on_slow` is told about a call that has run past its limit."""

    function: str  # e.g. "process_ip"
    detail: object  # what begin() was given, e.g. a frame number
    elapsed_s: float
    stack: str  # the Python stack of the thread making the call, innermost last


class CallWatch:
    """Watches the calls of one caller, one call at a time.

    `begin(function, limit_s, detail)`: a call of `function` starts in this thread; `limit_s`
    <= 0 watches nothing; `detail` (e.g. a frame number) is handed to `on_slow` if the call
    turns out slow. `end()`: the call returned; its duration if it was reported as slow, else
    None. Both are the methods of a C record (`_native.CallSlot`): a few stores per call.
    """

    __slots__ = ("on_slow", "_slot", "begin", "end")

    def __init__(self, on_slow: Callable[[SlowCall], None]) -> None:
        self.on_slow = on_slow
        self._slot = slot = CallSlot()
        self.begin: Callable[[str, float, object], None] = slot.begin
        self.end: Callable[[], float | None] = slot.end
        _monitor.add(self)

    def close(self) -> None:
        """No more calls: the shared thread forgets this watch."""
        self._slot.end()
        _monitor.discard(self)

    def _check(self, now: float) -> None:
        slot = self._slot
        call = slot.current()
        if call is None:
            return
        function, detail, limit_s, thread, started, serial = call
        if serial == slot.reported or now - started < limit_s:
            return
        slot.reported = serial
        frame = sys._current_frames().get(thread)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        self.on_slow(SlowCall(function, detail, now - started, stack))


class _Monitor:
    """The one thread that looks at every watch; it runs while there are watches."""

    def __init__(self) -> None:
        self._watches: set[CallWatch] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, watch: CallWatch) -> None:
        with self._lock:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="empycustom-call-watch", daemon=True
                )
                self._thread.start()

    def discard(self, watch: CallWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            time.sleep(POLL_S)
            if not self._check_all():
                return

    def _check_all(self) -> bool:
        """One look at every watch; False when there are none left (the thread ends).

        A method of its own so that no reference to a watch (and its caller) stays in a local
        variable while the thread sleeps: a stopped element must be freed at once.
        """
        with self._lock:
            watches = list(self._watches)
            if not watches:
                self._thread = None
                return False
        now = time.monotonic()
        for watch in watches:
            try:
                watch._check(now)
            except Exception:  # a failing on_slow must not end the watching
                traceback.print_exc()
        return True


_monitor = _Monitor()

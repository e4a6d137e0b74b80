"""BackgroundStart: start() in its own thread, failures reported once, start/stop paired."""

from __future__ import annotations

import sys
import threading
import types

from empycustom.library.loader import CustomLibrary, LibraryError
from empycustom.library.starter import BackgroundStart


class Calls:
    """A library whose start() waits for `release` and may fail; records start/stop."""

    def __init__(self, fail: bool = False, released: bool = True) -> None:
        self.made: list[str] = []
        self.release = threading.Event()
        if released:
            self.release.set()
        self.fail = fail
        self.late_failures: list[tuple[LibraryError, bool]] = []
        module = types.ModuleType("empycustom_test_starter_lib")
        sys.modules[module.__name__] = module
        self.library = CustomLibrary(
            path="/libs/test.py",
            module=module,
            start=self.start,
            stop=lambda options: self.made.append("stop"),
            process=None,
            process_ip=lambda *arguments: [],
        )

    def start(self, options: dict) -> None:
        self.release.wait(10)
        self.made.append("start")
        if self.fail:
            raise RuntimeError("no model")

    def background(self) -> BackgroundStart:
        return BackgroundStart(
            self.library, {}, lambda error, stopped: self.late_failures.append((error, stopped))
        )


def test_quick_start():
    calls = Calls()
    starter = calls.background()
    assert starter.wait(5) and starter.done
    assert starter.error is None and calls.made == ["start"]
    assert starter.abandon() is False  # done: the element stops it itself
    assert calls.late_failures == []
    calls.library.unload()


def test_quick_failure_is_returned_not_reported_late():
    calls = Calls(fail=True)
    starter = calls.background()
    assert starter.wait(5)
    assert isinstance(starter.error, LibraryError)
    assert "start() of custom-lib '/libs/test.py' raised RuntimeError: no model" in str(
        starter.error
    )
    assert "Traceback" in starter.error.debug
    assert calls.library.module.__name__ not in sys.modules  # unloaded
    assert calls.late_failures == []


def test_late_failure_is_reported_once():
    calls = Calls(fail=True, released=False)
    starter = calls.background()
    assert starter.wait(0.05) is False
    calls.release.set()
    starter.join(5)
    assert starter.done and len(calls.late_failures) == 1
    assert calls.late_failures[0] == (starter.error, False)


def test_abandoned_start_is_followed_by_stop():
    calls = Calls(released=False)
    starter = calls.background()
    assert starter.wait(0.05) is False
    assert starter.abandon() is True
    assert calls.made == []
    calls.release.set()
    starter.join(5)
    assert calls.made == ["start", "stop"]
    assert calls.library.module.__name__ not in sys.modules
    assert calls.late_failures == []


def test_waiting_buffer_gives_up_when_cancelled():
    calls = Calls(released=False)
    starter = calls.background()
    assert starter.wait_unless(lambda: True) is False
    calls.release.set()
    assert starter.wait_unless(lambda: False) is True
    starter.join(5)
    assert calls.made == ["start"]
    calls.library.unload()


def test_failure_after_the_element_stopped_says_so():
    calls = Calls(fail=True, released=False)
    starter = calls.background()
    assert starter.wait(0.05) is False
    assert starter.abandon() is True
    calls.release.set()
    starter.join(5)
    assert calls.made == ["start"]  # start() failed: nothing to stop
    assert calls.late_failures == [(starter.error, True)]

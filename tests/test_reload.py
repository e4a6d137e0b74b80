"""Hot reload: the `reload` property, the `reload` action signal, and the file watching rules."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from empycustom.gst.runtime import Gst
from empycustom.library.loader import LibraryError, load_library, module_name_for
from empycustom.library.reload import FileWatcher, load_new_version


def versioned(version: int, start_extra: str = "", broken: str = "") -> str:
    """A library that logs start()/stop() with its version and tags each result with it."""
    return f"""
VERSION = {version}
{broken}

def start(options):
    {start_extra}
    with open(options["log"], "a") as log:
        log.write(f"start {{VERSION}}\\n")

def stop(options):
    with open(options["log"], "a") as log:
        log.write(f"stop {{VERSION}}\\n")

def process_ip(io_buffer, in_meta, options, events):
    return [{{"version": VERSION}}]
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# FileWatcher


def test_watcher_reports_a_change_once_it_is_stable(tmp_path):
    path = tmp_path / "lib.py"
    path.write_text("x = 1\n")
    clock = FakeClock()
    watcher = FileWatcher(str(path), interval=0.25, clock=clock)
    clock.now = 1.0
    assert not watcher.changed()  # unchanged

    path.write_text("x = 22\n")
    assert not watcher.changed()  # not looked at again before the interval is over
    clock.now = 1.3
    assert not watcher.changed()  # seen once: maybe still being written
    clock.now = 1.6
    assert watcher.changed()  # the same twice: a new version
    clock.now = 1.9
    assert not watcher.changed()  # reported once


def test_watcher_waits_while_the_file_keeps_changing(tmp_path):
    path = tmp_path / "lib.py"
    path.write_text("x = 1\n")
    clock = FakeClock()
    watcher = FileWatcher(str(path), interval=0.25, clock=clock)
    for step, text in enumerate(["", "x", "x = ", "x = 2\n"], start=1):
        path.write_text(text)
        clock.now = step
        assert not watcher.changed()
    clock.now = 10
    assert watcher.changed()


def test_watcher_sees_a_removed_file_and_mark_loaded(tmp_path):
    path = tmp_path / "lib.py"
    path.write_text("x = 1\n")
    clock = FakeClock()
    watcher = FileWatcher(str(path), interval=0.25, clock=clock)
    path.unlink()
    clock.now = 1
    watcher.changed()
    clock.now = 2
    assert watcher.changed()  # a reload then says the file is missing
    path.write_text("x = 3\n")
    watcher.mark_loaded()
    clock.now = 3
    assert not watcher.changed()
    clock.now = 4
    assert not watcher.changed()


# load_new_version


def test_new_version_replaces_the_module_under_the_same_name(tmp_path):
    log = tmp_path / "calls.log"
    path = tmp_path / "lib.py"
    path.write_text(versioned(1))
    running = load_library(str(path), in_place=True)
    path.write_text(versioned(2))
    new = load_new_version(running, in_place=True, options={"log": str(log)})
    name = module_name_for(str(path))
    assert new.module.__name__ == running.module.__name__ == name
    assert sys.modules[name] is new.module
    assert new.module.VERSION == 2 and running.module.VERSION == 1
    running.unload()  # the old version's unload leaves the new one in place
    assert sys.modules[name] is new.module
    new.unload()
    assert name not in sys.modules
    assert log.read_text() == "start 2\n"


@pytest.mark.parametrize(
    "new_source, message",
    [
        (versioned(2, broken="def broken(:"), "SyntaxError"),
        (versioned(2, broken="import empycustom_no_such_module"), "ModuleNotFoundError"),
        (versioned(2, start_extra="raise RuntimeError('no model')"), "RuntimeError: no model"),
        ("x = 1\n", "has no function process_ip()"),
    ],
)
def test_failed_new_version_leaves_the_running_one(tmp_path, new_source, message):
    log = tmp_path / "calls.log"
    path = tmp_path / "lib.py"
    path.write_text(versioned(1))
    running = load_library(str(path), in_place=True)
    path.write_text(new_source)
    with pytest.raises(LibraryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_new_version(running, in_place=True, options={"log": str(log)})
    assert sys.modules[module_name_for(str(path))] is running.module
    assert running.process_ip(None, {}, {}, {}) == [{"version": 1}]
    assert not log.exists() or "stop" not in log.read_text()
    running.unload()


# In pipelines


def run_with_edits(pipeline, write_library, tmp_path, edits, *, reload="on-change", frames=120):
    """Run `frames` buffers; from buffer N on, write `edits[N]` over the library (or call it).

    After an edit the stream slows down (10 ms per buffer) until a new version shows up in
    the results, a warning is posted or 3 s have passed, so the watcher gets its looks at the
    file mid-stream; the next edit waits for that.
    """
    log = tmp_path / "calls.log"
    library = write_library(versioned(1), name="hot.py")
    options = json.dumps({"log": str(log)})
    versions: list[int] = []
    warnings = [0]
    pending = sorted(edits.items())
    waiting: dict = {"since": None}

    def configure(p: Gst.Pipeline) -> None:
        element = p.get_by_name("e")
        element.set_property("options", options)
        element.set_property("reload", reload)

        def on_meta(_element: Gst.Element, text: str) -> None:
            versions.append(json.loads(text)["frame"][0]["emcustom"]["version"])

        def on_message(_bus: Gst.Bus, message: Gst.Message) -> Gst.BusSyncReply:
            warnings[0] += message.type == Gst.MessageType.WARNING
            return Gst.BusSyncReply.PASS

        element.connect("new-meta", on_meta)
        p.get_bus().set_sync_handler(on_message)

    def on_buffer(p: Gst.Pipeline, count: int) -> None:
        if waiting["since"] is not None:
            if (
                versions[-1] == waiting["version"]
                and warnings[0] == waiting["warnings"]
                and time.monotonic() - waiting["since"] < 3
            ):
                time.sleep(0.01)
                return
            waiting["since"] = None
        if pending and count >= pending[0][0]:
            edit = pending.pop(0)[1]
            if callable(edit):
                edit(p.get_by_name("e"))
            else:
                Path(library).write_text(edit)
            waiting.update(since=time.monotonic(), version=versions[-1], warnings=warnings[0])

    result = pipeline(
        f"videotestsrc num-buffers={frames} ! video/x-raw,format=RGBA,width=16,height=16 ! "
        f"empycustom name=e in-place=true custom-lib={library} ! appsink name=sink",
        configure=configure,
        on_buffer=on_buffer,
    )
    assert result.eos, result.error_texts
    assert pending == []
    # No frame lost, none processed twice, each by exactly one version.
    assert len(result.frames) == frames
    assert [f.meta["frame"][0]["frame_num"] for f in result.frames] == list(range(frames))
    assert [f.meta["frame"][0]["emcustom"]["version"] for f in result.frames] == versions
    return result, versions, log.read_text().split("\n")[:-1]


def test_on_change_new_version_takes_over_at_a_buffer_boundary(pipeline, write_library, tmp_path):
    result, versions, calls = run_with_edits(pipeline, write_library, tmp_path, {20: versioned(2)})
    assert result.warnings == []
    switch = versions.index(2)
    assert switch > 20 and versions == [1] * switch + [2] * (len(versions) - switch)
    assert calls == ["start 1", "start 2", "stop 1", "stop 2"]


def test_failed_reload_keeps_the_old_version_running(pipeline, write_library, tmp_path):
    edits = {
        20: versioned(2, broken="def broken(:"),
        60: versioned(3, start_extra="raise RuntimeError('model file missing')"),
        100: versioned(4),
    }
    result, versions, calls = run_with_edits(pipeline, write_library, tmp_path, edits, frames=300)
    switch = versions.index(4)
    assert switch > 100 and versions == [1] * switch + [4] * (len(versions) - switch)
    assert calls == ["start 1", "start 4", "stop 1", "stop 4"]  # version 3 never started
    assert len(result.warnings) == 2, result.warning_texts
    (syntax_text, syntax_debug), (start_text, start_debug) = result.warnings
    assert "reloading custom-lib" in syntax_text and "running version stays" in syntax_text
    assert "SyntaxError" in syntax_text and "Traceback" in syntax_debug
    assert "start() of custom-lib" in start_text and "model file missing" in start_text
    assert "Traceback" in start_debug and "RuntimeError" in start_debug


def test_reload_off_ignores_changes(pipeline, write_library, tmp_path):
    result, versions, calls = run_with_edits(
        pipeline, write_library, tmp_path, {20: versioned(2)}, reload="off", frames=100
    )
    assert versions == [1] * 100  # 80 slowed frames (0.8 s) gave the watcher 3 looks
    assert calls == ["start 1", "stop 1"]


def test_reload_action_signal(pipeline, write_library, tmp_path):
    def bump_and_reload(element: Gst.Element) -> None:
        library = element.get_property("custom-lib")
        Path(library).write_text(versioned(2))
        element.emit("reload")

    result, versions, calls = run_with_edits(
        pipeline, write_library, tmp_path, {20: bump_and_reload}, reload="off"
    )
    assert result.warnings == []
    # Reloaded at the very next buffer, although reload=off.
    assert versions == [1] * 20 + [2] * 100
    assert calls == ["start 1", "start 2", "stop 1", "stop 2"]


def test_reload_property_values():
    element = Gst.ElementFactory.make("empycustom")
    assert element.get_property("reload").value_nick == "off"
    element.set_property("reload", "on-change")
    assert element.get_property("reload").value_nick == "on-change"
    with pytest.raises(TypeError, match="could not convert 'sometimes'"):
        element.set_property("reload", "sometimes")
    assert element.get_property("reload").value_nick == "on-change"

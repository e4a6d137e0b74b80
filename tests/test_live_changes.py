"""Properties set from application threads while buffers flow: every buffer sees one consistent
snapshot, and every event is delivered exactly once."""

from __future__ import annotations

import json
import threading
from collections import Counter

from empycustom.gst.runtime import Gst

CHANGES = 3000

# Reads the two options apart, letting other threads run in between: a torn update would show.
SNAPSHOT_LIBRARY = """
    import time

    def process_ip(io_buffer, in_meta, options, events):
        a = options.get("a")
        time.sleep(0)
        b = options.get("b")
        return [{"a": a, "b": b, "events": sorted(events)}]
"""

CAPS = "video/x-raw,format=RGBA,width=16,height=16"


def test_live_property_changes_are_race_free(write_library, pipeline, report_figure):
    library = write_library(SNAPSHOT_LIBRARY)
    last_delivered = threading.Event()
    failures: list[BaseException] = []

    def hammer(p: Gst.Pipeline) -> None:
        element = p.get_by_name("e")
        try:
            for i in range(CHANGES):
                element.set_property("options", json.dumps({"a": i, "b": i}))
                element.set_property("events", json.dumps({f"e{i}": i}))
                element.set_property("process-interval", i % 3 + 1)
                element.set_property("silent", i % 2 == 0)
            element.set_property("process-interval", 1)
            element.set_property("silent", False)
            element.set_property("events", '{"last": true}')
            last_delivered.wait(30)
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)
        finally:
            p.send_event(Gst.Event.new_eos())

    def configure(p: Gst.Pipeline) -> None:
        element = p.get_by_name("e")
        element.connect("new-meta", lambda _e, text: '"last"' in text and last_delivered.set())
        threading.Thread(target=hammer, args=(p,), daemon=True).start()

    result = pipeline(
        f"videotestsrc ! {CAPS} ! empycustom name=e in-place=true custom-lib={library} "
        "! appsink name=sink",
        configure=configure,
        timeout=120,
    )
    assert failures == []
    assert result.eos, result.error_texts
    assert result.warnings == []

    processed = [frame.meta["frame"][0] for frame in result.frames if frame.meta is not None]
    skipped = len(result.frames) - len(processed)
    report_figure(
        f"live changes: {CHANGES} x (options, events, process-interval, silent) set while "
        f"{len(result.frames)} buffers flowed ({len(processed)} processed, {skipped} skipped, "
        f"{len(result.signals)} signals)"
    )
    assert skipped > 0  # process-interval > 1 took effect
    for meta in processed:
        assert meta["emcustom"]["a"] == meta["emcustom"]["b"]
        assert meta["emcustom"]["events"] == sorted(meta.get("events", {}))
    delivered = Counter(key for meta in processed for key in meta.get("events", {}))
    expected = Counter([f"e{i}" for i in range(CHANGES)] + ["last"])
    assert delivered == expected  # none lost, none twice
    # A signal is the meta of one processed frame, exactly.
    by_number = {meta["frame_num"]: meta for meta in processed}
    assert 0 < len(result.signals) < len(processed)  # silent took effect, but not always
    for signal in result.signals:
        frame = signal["frame"][0]
        assert by_number[frame["frame_num"]] == frame


def test_concurrent_setters_lose_no_update(write_library, pipeline):
    library = write_library("def process_ip(b, m, o, e):\n    return []\n")
    element = Gst.ElementFactory.make("empycustom")
    element.set_property("custom-lib", library)

    def set_many(name: str, values: list) -> None:
        for value in values:
            element.set_property(name, value)

    writers = [
        threading.Thread(target=set_many, args=("process-interval", list(range(1, 5001)))),
        threading.Thread(target=set_many, args=("silent", [False, True] * 2500)),
        threading.Thread(target=set_many, args=("on-error", ["error", "warn", "drop"] * 1666)),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert element.get_property("process-interval") == 5000
    assert element.get_property("silent") is True
    assert element.get_property("on-error").value_nick == "drop"
    assert element.get_property("custom-lib") == library


def test_invalid_options_while_playing_keep_the_previous(write_library, pipeline):
    library = write_library(SNAPSHOT_LIBRARY)

    def on_buffer(p: Gst.Pipeline, count: int) -> None:
        if count == 5:
            p.get_by_name("e").set_property("options", "{not json")

    result = pipeline(
        f"videotestsrc num-buffers=10 ! {CAPS} ! empycustom name=e "
        f'in-place=true custom-lib={library} options="{{\\"a\\": 1, \\"b\\": 1}}" '
        "! appsink name=sink",
        on_buffer=on_buffer,
    )
    assert result.eos, result.error_texts
    assert [frame.meta["frame"][0]["emcustom"]["a"] for frame in result.frames] == [1] * 10
    assert len(result.warnings) == 1
    assert "options" in result.warnings[0][0] and "keeping the previous" in result.warnings[0][0]

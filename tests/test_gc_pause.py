"""Python's cyclic collector is paused while the element processes a buffer, not longer."""

from __future__ import annotations

import gc

LIBRARY = """
import gc

class Node:
    def __init__(self):
        self.me = self  # a cycle: only the collector frees it

def process_ip(buffer, in_meta, options, events):
    for _ in range(options.get("cycles", 0)):
        Node()
    nodes = sum(1 for o in gc.get_objects() if type(o) is Node)
    return {"collecting": gc.isenabled(), "nodes": nodes}
"""


def _results(result) -> list[dict]:
    return [meta["frame"][0]["emcustom"] for meta in result.signals]


def test_collector_paused_during_a_buffer_and_garbage_collected_between(write_library, pipeline):
    library = write_library(LIBRARY)
    assert gc.isenabled()
    result = pipeline(
        "videotestsrc num-buffers=40 ! video/x-raw,format=RGBA,width=16,height=16 ! "
        f"empycustom name=e in-place=true custom-lib={library} "
        "options=\"{\\\"cycles\\\": 500}\" ! fakesink",
    )
    assert result.eos and result.errors == []
    results = _results(result)
    assert len(results) == 40
    assert not any(r["collecting"] for r in results)  # paused inside the library call
    assert gc.isenabled()  # and running again after
    # 500 cyclic objects a frame, 20,000 in all: collected between buffers once the collector's
    # threshold is passed, so that no more live than that many plus the frame's own (Python
    # 3.13's threshold, 2000, is four frames' worth to the object: 2500 at the fifth frame).
    assert max(r["nodes"] for r in results) <= gc.get_threshold()[0] + 500
    gc.collect()


def test_a_disabled_collector_stays_disabled(write_library, pipeline):
    library = write_library(LIBRARY)
    gc.disable()
    try:
        result = pipeline(
            "videotestsrc num-buffers=5 ! video/x-raw,format=RGBA,width=16,height=16 ! "
            f"empycustom name=e in-place=true custom-lib={library} ! fakesink",
        )
        assert result.eos and len(_results(result)) == 5
        assert not gc.isenabled()
    finally:
        gc.enable()

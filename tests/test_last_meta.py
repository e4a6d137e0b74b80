"""last-meta keeps the last buffer's merged JSON: large texts in one bytearray refilled in place
(`outmeta.keep_text`), so that the previous buffer's text is not alive while the next is
written (glibc trimmed the heap it was freed into, and every buffer faulted its pages in again).
"""

from __future__ import annotations

import json
import threading

import orjson
import pytest

from empycustom._native import refill
from empycustom.meta.outmeta import LARGE_TEXT, keep_text, meta_text

SOURCE = "videotestsrc num-buffers={n} ! video/x-raw,format=RGBA,width=64,height=48"
# Sizes of the pad string, by frame: large texts growing and shrinking, then a small one.
PAD_SIZES = [200_000, 150_000, 300_000, 140_000, 260_000, 1_000, 180_000]
LARGE_LIBRARY = f"""
PAD_SIZES = {PAD_SIZES}

def process_ip(io_buffer, in_meta, options, events):
    frame_num = in_meta["frame"][0]["frame_num"]
    return {{"pad": "x" * PAD_SIZES[frame_num % len(PAD_SIZES)]}}
"""


def large(size: int, fill: bytes = b"a") -> bytes:
    return orjson.dumps({"pad": (fill * size).decode()})


def test_small_texts_and_str_are_kept_as_they_are():
    small = large(100)
    assert keep_text(None, small) is small
    assert keep_text(bytearray(large(LARGE_TEXT)), small) is small
    text = '{"pad": "' + "x" * LARGE_TEXT + '"}'  # json's str (what orjson refused)
    assert keep_text(bytearray(b"{}"), text) is text


def test_a_large_text_is_copied_into_the_kept_bytearray():
    first = large(LARGE_TEXT)
    kept = keep_text(None, first)
    assert type(kept) is bytearray
    assert kept == first
    for size, fill in ((3 * LARGE_TEXT, b"b"), (LARGE_TEXT, b"c"), (2 * LARGE_TEXT, b"d")):
        text = large(size, fill)
        assert keep_text(kept, text) is kept  # the same memory, refilled
        assert kept == text  # no tail left from a longer one
        assert meta_text(kept) == text.decode()
    assert meta_text(keep_text(large(LARGE_TEXT), large(LARGE_TEXT))) == large(LARGE_TEXT).decode()


def test_meta_text_decodes_every_kept_form():
    assert meta_text(None) is None
    assert meta_text('{"a": 1}') == '{"a": 1}'
    assert meta_text(b'{"a": 1}') == '{"a": 1}'
    assert meta_text(bytearray(b'{"a": "\xc3\xa9"}')) == '{"a": "\u00e9"}'


def test_refill_resizes_in_place_and_refuses_what_it_cannot_do():
    array = bytearray(b"old content")
    refill(array, b"new")
    assert array == b"new"
    refill(array, b"x" * 100_000)
    assert array == b"x" * 100_000
    refill(array, b"")
    assert array == b""
    with pytest.raises(TypeError, match="bytearray and bytes"):
        refill(array, "a str")
    with pytest.raises(TypeError, match="bytearray and bytes"):
        refill(b"bytes", b"data")
    with pytest.raises(TypeError):
        refill(array)
    exported = bytearray(b"abc")
    with memoryview(exported), pytest.raises(BufferError):  # a view keeps its memory
        refill(exported, b"longer than before")
    assert exported == b"abc"


@pytest.mark.parametrize("extra", ["", "workers=2 worker-kind=thread"])
def test_last_meta_is_each_buffer_s_text_refilled_in_place(
    pipeline, write_library, extra
):
    lib = write_library(LARGE_LIBRARY)
    seen: list[tuple[int, dict]] = []
    kept_ids: set[int] = set()

    def on_buffer(running, count):
        element = running.get_by_name("e")
        seen.append((count, json.loads(element.get_property("last-meta"))))
        state = element._state
        if type(state.last_meta) is bytearray:
            kept_ids.add(id(state.last_meta))

    frames = 2 * len(PAD_SIZES)
    result = pipeline(
        f"{SOURCE.format(n=frames)} ! empycustom name=e custom-lib={lib} in-place=true {extra} "
        "! appsink name=sink max-buffers=1",
        on_buffer=on_buffer,
    )
    assert result.eos, result.error_texts
    assert len(result.frames) == frames
    assert [frame.meta for frame in result.frames] == result.signals
    pads = [len(meta["frame"][0]["emcustom"]["pad"]) for meta in result.signals]
    assert pads == PAD_SIZES * 2
    if not extra:  # in place without workers, the sink gets each buffer before the next one
        assert [meta for _, meta in seen] == result.signals
    # Three runs of large texts (a small one ends each): at most one bytearray for each.
    assert 0 < len(kept_ids) <= 3, f"{len(kept_ids)} bytearrays for 12 large texts"
    element = result.pipeline.get_by_name("e")
    assert json.loads(element.get_property("last-meta")) == result.signals[-1]


def test_last_meta_read_from_another_thread_is_always_whole(pipeline, write_library):
    lib = write_library(LARGE_LIBRARY)
    reads: list[str] = []
    stop = threading.Event()

    def read_while_running(running):
        element = running.get_by_name("e")

        def loop():
            while not stop.is_set():
                text = element.get_property("last-meta")
                if text is not None:
                    reads.append(text)

        threading.Thread(target=loop, daemon=True).start()

    try:
        result = pipeline(
            f"{SOURCE.format(n=40)} ! empycustom name=e custom-lib={lib} in-place=true "
            "! appsink name=sink",
            configure=read_while_running,
        )
    finally:
        stop.set()
    assert result.eos, result.error_texts
    assert reads, "the reader never saw a last-meta"
    sizes = {len(json.loads(text)["frame"][0]["emcustom"]["pad"]) for text in reads}
    assert sizes <= set(PAD_SIZES)

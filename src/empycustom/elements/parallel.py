"""`workers` > 1 or `batch-size` > 1: the empycustom element's frames through ordered workers.

With the defaults the element is a plain BaseTransform (transform_ip/transform). Otherwise,
while it runs, its sink pad's chain function is this module's: each buffer is accepted on the
streaming thread (in_meta built, events and the settings snapshot taken, in stream order),
handed to the `OrderedWorkers` engine and pushed from its threads in input order, where
the merged meta, `last-meta` and `new-meta` are done as without workers. Serialized events wait
for the frames ahead of them (`sink_event`); a flush discards the frames in flight.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from empycustom import _native
from empycustom.frames.calls import Dropped, Frames, Raised, Returned, call_library
from empycustom.frames.layout import FrameLayout
from empycustom.frames.views import copy_frame
from empycustom.frames.worker_process import ProcessWorker, Spec
from empycustom.gst.clib import gobject_pointer, gst
from empycustom.gst.debug import DebugCategory
from empycustom.gst.messages import report_error, report_warning
from empycustom.gst.runtime import Gst, GstVideo
from empycustom.library.loader import CustomLibrary, LibraryError, required_function
from empycustom.library.workers import (
    Crashed,
    OrderedWorkers,
    TimedOut,
    Worker,
    added_latency_ns,
)
from empycustom.meta import analytics, custom_meta
from empycustom.meta.chain import results_to_write
from empycustom.meta.editing import apply_edits, close_frame, open_frame
from empycustom.meta.merge import add_events, merge_results
from empycustom.meta.objects import write_results
from empycustom.meta.outmeta import keep_text, meta_json, parse_out_meta
from empycustom.meta.reading import read_frame

FLOW_OK = Gst.FlowReturn.OK
FLOW_ERROR = Gst.FlowReturn.ERROR
FLOW_FLUSHING = Gst.FlowReturn.FLUSHING
FLOW_NOT_NEGOTIATED = Gst.FlowReturn.NOT_NEGOTIATED
FLUSH_START = Gst.EventType.FLUSH_START
FLUSH_STOP = Gst.EventType.FLUSH_STOP
SERIALIZED = Gst.EventTypeFlags.SERIALIZED
PAD_FLUSHING = Gst.PadFlags.FLUSHING
COPY_METADATA = (
    Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.TIMESTAMPS | Gst.BufferCopyFlags.META
)
COPY_SHALLOW = COPY_METADATA | Gst.BufferCopyFlags.MEMORY
PROCESS_START_S = 60.0  # how long a worker process may take to import and start the library


@dataclass(eq=False)
class FrameJob:
    """One frame on its way through the workers (in_meta None: skipped by process-interval)."""

    inbuf: Gst.Buffer | None
    outbuf: Gst.Buffer | None
    in_meta: dict[str, Any] | None
    objects: list[dict[str, Any]]
    rois: list[Any]
    settings: Any
    events: dict[str, Any]
    library: CustomLibrary | None
    layout: FrameLayout


class ThreadWorker:
    """Runs the library in a worker thread of this process (for work that releases the GIL)."""

    def __init__(self, batch: bool) -> None:
        self.batch = batch

    def run(self, jobs: list[FrameJob]) -> list[Any]:
        first = jobs[0]
        frames = Frames(
            [job.inbuf for job in jobs],
            [job.outbuf for job in jobs],
            [job.in_meta for job in jobs],
            first.layout,
            first.settings.options,
            _batch_events(jobs),
        )
        return call_library(first.library, first.settings.in_place, self.batch, frames)

    def interrupt(self, stopping: bool = False) -> bool:
        return False  # a Python thread cannot be stopped

    def close(self) -> None:
        pass


def _batch_events(jobs: list[FrameJob]) -> dict[str, Any]:
    if len(jobs) == 1:
        return jobs[0].events
    merged: dict[str, Any] = {}
    for job in jobs:
        merged.update(job.events)
    return merged


class Parallel:
    """The element's pipeline mode, from start to stop."""

    def __init__(
        self, element: Any, settings: Any, workers: list[Worker], category: DebugCategory
    ) -> None:
        self.element = element
        self.category = category
        self.process_workers = [w for w in workers if isinstance(w, ProcessWorker)]
        self.kind = settings.worker_kind
        self.batch = settings.batch_size > 1
        self.flow = FLOW_OK
        self.sinkpad = element.get_static_pad("sink")
        self.srcpad = element.get_static_pad("src")
        self._srcpad_address = gobject_pointer(self.srcpad)
        self._batch_settings = None
        self._latency_settings = (
            settings.workers,
            settings.batch_size,
            settings.batch_timeout_ms * Gst.MSECOND if settings.batch_timeout_ms else None,
        )
        self.frame_ns: int | None = None  # from the caps' framerate, for the latency
        timeout = settings.worker_timeout_ms / 1000 if settings.worker_timeout_ms else None
        batch_timeout = settings.batch_timeout_ms / 1000 if settings.batch_timeout_ms else None
        self.pool = OrderedWorkers(
            workers,
            self._deliver,
            batch_size=settings.batch_size,
            batch_timeout_s=batch_timeout,
            timeout_s=timeout,
            make_worker=(lambda: ThreadWorker(self.batch)) if self.kind == "thread" else None,
            name=element.get_name(),
        )
        address = gobject_pointer(self.sinkpad)
        self._base_chain = _native.pad_chain_function(address)
        self.sinkpad.set_chain_function_full(self._chain)
        # After upstream answered a LATENCY query, the frames held here are added to it.
        self._latency_probe, self._latency_added = _native.add_latency_probe(self._srcpad_address)
        self._set_latency()

    def close(self) -> list[LibraryError]:
        """Stop the engine (worker processes run stop()), give the sink pad its chain function
        back; returns the failures of the processes' stop()."""
        self.pool.stop()
        self.flow = FLOW_FLUSHING
        self.srcpad.remove_probe(self._latency_probe)  # and frees what _latency_added points to
        _native.set_pad_chain_function(gobject_pointer(self.sinkpad), self._base_chain)
        # The engine refers back to this object (deliver): breaking the cycle frees the element
        # and its pads with the pipeline, garbage collection or not.
        self.pool = None
        return [w.stop_failure for w in self.process_workers if w.stop_failure is not None]

    # Streaming thread

    def _flushing(self) -> bool:
        return bool(self.sinkpad.flags & PAD_FLUSHING)

    def _chain(self, pad: Gst.Pad, parent: Any, buffer: Gst.Buffer) -> Gst.FlowReturn:
        _native.keep_thread_state()
        if self.flow != FLOW_OK:
            return self.flow
        try:
            return self._accept(buffer)
        except Exception as error:  # PyGObject would print it and return OK: the frame lost
            text = f"accepting a buffer for the workers failed: {type(error).__name__}: {error}"
            report_error(self.element, self.category, text, traceback.format_exc(), domain="stream")
            self.flow = FLOW_ERROR
            return FLOW_ERROR

    def _accept(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        element = self.element
        state = element._begin_buffer()
        if isinstance(state, Gst.FlowReturn):
            return state
        layout = element._layout
        settings = element._settings
        frame_num = state.frame_num
        state.frame_num = frame_num + 1
        if not element.reconfigure():  # as BaseTransform's chain: negotiate, pool, allocator
            return FLOW_FLUSHING if self.srcpad.flags & PAD_FLUSHING else FLOW_NOT_NEGOTIATED
        pool = self.pool
        if frame_num % settings.process_interval:
            job = FrameJob(buffer, None, None, [], [], settings, {}, None, layout)
            return self._result(pool.submit(job, work=False, cancelled=self._flushing))
        if self.batch and settings is not self._batch_settings:
            pool.close_batch()  # options and the like change at a batch boundary
            self._batch_settings = settings
        if element._reload_requested or (
            settings.reload == "on-change" and state.watcher.changed()
        ):
            if not pool.drain(self._flushing):
                return self._result(False)
            self.reload(state, settings)
        events = element._take_events()
        outbuf = None
        if settings.in_place:
            if not gst.gst_mini_object_is_writable(hash(buffer)):
                # A new buffer sharing the memory (a write map copies it then); Boxed.copy()
                # would only add a reference.
                buffer = buffer.copy_region(COPY_SHALLOW, 0, buffer.get_size())
        else:
            outbuf = self._new_output(layout.size)
            if isinstance(outbuf, Gst.FlowReturn):
                return outbuf
            Gst.Buffer.copy_into(outbuf, buffer, COPY_METADATA, 0, buffer.get_size())
        # Not in place, the output buffer holds the copies of the ROI metas that go downstream.
        downstream = buffer if outbuf is None else outbuf
        # As the element reads a frame, upstream results carried (one C call for the common case).
        in_meta, objects, rois, _carried = read_frame(
            buffer, downstream, frame_num, layout, element._in_meta_template, settings.label_ids
        )
        if self.kind == "thread":
            open_frame(in_meta, downstream, rois, settings.label_ids, self.batch)  # add_object
        job = FrameJob(
            buffer, outbuf, in_meta, objects, rois, settings, events, state.library, layout
        )
        del buffer, outbuf, downstream
        return self._result(pool.submit(job, cancelled=self._flushing))

    def _new_output(self, size: int) -> Gst.Buffer | Gst.FlowReturn:
        """An output buffer as BaseTransform makes one: from the pool negotiated downstream,
        else from the negotiated allocator."""
        pool = self.element.get_buffer_pool()
        # BaseTransform activates its pool when it first takes a buffer from it; its chain
        # function is not the one running here.
        if pool is not None and (pool.is_active() or pool.set_active(True)):
            flow, buffer = pool.acquire_buffer(None)
            return buffer if flow == FLOW_OK else flow
        allocator, params = self.element.get_allocator()
        return Gst.Buffer.new_allocate(allocator, size, params)

    def _result(self, accepted: bool) -> Gst.FlowReturn:
        if accepted:
            return FLOW_OK
        return self.flow if self.flow != FLOW_OK else FLOW_FLUSHING

    def sink_event(self, event: Gst.Event) -> None:
        """Before the element handles a sink event: flushes discard, serialized events wait."""
        kind = event.type
        if kind == FLUSH_START:
            self.pool.flush()
        elif kind == FLUSH_STOP:
            self.pool.resume()
            self.flow = FLOW_OK
        elif Gst.EventType.get_flags(kind) & SERIALIZED:
            self.pool.drain(self._flushing)

    def set_caps(self, caps: Gst.Caps) -> None:
        """The frame duration of new caps; the pipeline is told that the latency changed."""
        info = GstVideo.VideoInfo.new_from_caps(caps)
        frame_ns = None
        if info is not None and info.fps_n > 0 and info.fps_d > 0:
            frame_ns = Gst.SECOND * info.fps_d // info.fps_n
        if frame_ns != self.frame_ns:
            self.frame_ns = frame_ns
            self._set_latency()
            self.element.post_message(Gst.Message.new_latency(self.element))

    def _set_latency(self) -> None:
        """What frames held by the workers (and waiting for their batch) add to the latency."""
        workers, batch_size, batch_timeout_ns = self._latency_settings
        wait, held = added_latency_ns(workers, batch_size, batch_timeout_ns, self.frame_ns)
        _native.set_latency_added(self._latency_added, wait, -1 if held is None else held)
        self.category.debug(
            self.element, f"latency: {wait} ns more at least, {held} ns more at most"
        )

    def reload(self, state: Any, settings: Any) -> None:
        element = self.element
        if self.kind == "thread":
            element._reload(state, settings)
            return
        element._reload_requested = False
        state.watcher.mark_loaded()
        for worker in self.process_workers:
            failure = worker.reload(settings.options)
            if failure is not None:
                text = (
                    f"reloading custom-lib '{worker.spec.path}' in worker process "
                    f"{worker.index} failed, the running version stays: {failure}"
                )
                report_warning(element, self.category, text, failure.debug)

    # Delivery (the worker thread that finished the frame, or the engine's output thread)

    def _deliver(self, item: Any) -> bool:
        job: FrameJob = item.payload
        element = self.element
        if job.in_meta is None:  # skipped: passes untouched
            return self._push(job, output=False)
        outcome = item.outcome
        settings = job.settings
        name = required_function(settings.in_place, self.batch)
        close_frame(job.in_meta, self.batch)
        if isinstance(outcome, Returned):
            if outcome.left_open:
                element._warn_forgotten_maps(element._state, name, outcome.left_open)
            downstream = job.inbuf if job.outbuf is None else job.outbuf
            if outcome.edits is not None:  # objects added or removed in a worker process
                apply_edits(downstream, job.objects, job.rois, *outcome.edits)
            try:
                results = parse_out_meta(outcome.out_meta, name, job.in_meta)
                merge_results(job.in_meta, results)
                add_events(job.in_meta, job.events)
                text = meta_json(job.in_meta, name)
            except BaseException as error:  # noqa: BLE001 - follows on-error, as without workers
                debug = traceback.format_exc()
                return self._failed(job, f"custom-lib '{settings.custom_lib}': {error}", debug)
            if outcome.passed_input:
                copy_frame(job.inbuf, job.outbuf, job.layout)
            state = element._state
            if state is not None:  # large texts are written from the kept copy, as in place
                text = state.last_meta = keep_text(state.last_meta, text)
            custom_meta.write_meta_json(downstream, text)
            write_results(job.rois, results_to_write(job.objects))
            analytics.write_results(downstream, job.objects, results)
            element._emit_new_meta(state, settings, text)
            return self._push(job, output=job.outbuf is not None)
        if isinstance(outcome, Dropped):
            element._warn_dropped(element._state)
            return True
        if isinstance(outcome, Raised):
            return self._failed(job, outcome.text, outcome.debug)
        if isinstance(outcome, TimedOut):
            what = "process" if self.kind == "process" else "thread"
            fate = (
                "it was killed and is replaced" if self.kind == "process"
                else "it is left to finish and a new thread takes its place"
            )  # fmt: skip
            text = (
                f"{name}() of custom-lib '{settings.custom_lib}' did not return within "
                f"{settings.worker_timeout_ms} ms (worker-timeout) in a worker {what}; {fate}"
            )
            return self._failed(job, text, "")
        if isinstance(outcome, Crashed):
            return self._failed(job, outcome.text, outcome.debug)
        return self._failed(job, f"unexpected worker outcome {outcome!r}", "")

    def _failed(self, job: FrameJob, text: str, debug: str) -> bool:
        element = self.element
        policy = job.settings.on_error
        category = self.category
        if policy == "error":
            report_error(element, category, text, debug)
            self.flow = FLOW_ERROR
            return False
        if policy == "drop":
            report_warning(element, category, text + "; frame dropped (on-error=drop)", debug)
            return True
        report_warning(element, category, text + "; frame passed unchanged (on-error=warn)", debug)
        return self._push(job, output=False)

    def _push(self, job: FrameJob, output: bool) -> bool:
        # Pushed with the only reference (no Python object keeps one), so that the next
        # element may write it in place.
        address = hash(job.outbuf if output else job.inbuf)
        gst.gst_mini_object_ref(address)
        job.inbuf = job.outbuf = None
        flow = Gst.FlowReturn(gst.gst_pad_push(self._srcpad_address, address))
        if flow == FLOW_OK:
            return True
        if flow == FLOW_FLUSHING:
            self.flow = FLOW_FLUSHING
            return True
        self.flow = flow
        return False


def start_processes(
    element: Any, settings: Any, options: dict[str, Any], category: DebugCategory
) -> list[ProcessWorker] | None:
    """Start the worker processes, each loading the library and running its start();
    None (after an error message) when one of them fails."""
    spec = Spec(settings.custom_lib, settings.in_place, settings.batch_size > 1, options)

    def warn(text: str) -> None:
        report_warning(element, category, text)

    workers = [
        ProcessWorker(spec, index, PROCESS_START_S, warn) for index in range(settings.workers)
    ]
    try:
        for worker in workers:
            worker.launch()
    except OSError as error:
        for worker in workers:
            worker.kill()
        report_error(element, category, f"cannot start worker processes: {error}",
                     domain="init")  # fmt: skip
        return None
    failures = [worker.started() for worker in workers]
    failure = next((failure for failure in failures if failure is not None), None)
    if failure is not None:
        for worker in workers:
            worker.kill()
        report_error(element, category, str(failure), failure.debug, domain="init")
        return None
    return workers

"""Several frames at once, leaving in their input order: the dispatch engine behind `workers`
and `batch-size`.

Plain Python, no GStreamer. The streaming thread `submit()`s items in stream order; items are
grouped into batches (of one when batch_size is 1) and run by N worker threads, each through
its own `Worker` (a thread runs the library itself; a process worker hands the batch to its
process). Finished items are handed to `deliver` strictly in submission order, one at a time:
by the worker thread that finished the item at the head (one thread hand-over less per frame),
or by the output thread, which delivers skipped items and timed-out batches and watches the
batches' ages.

- Backpressure: at most `max_in_flight` items are held; `submit()` blocks until one leaves.
- Items submitted with `work=False` (frames skipped by process-interval) need no worker but
  keep their place in the order.
- `drain()` runs the open batch and waits until everything submitted has been delivered (what
  a serialized event such as EOS waits for). A batch also runs when it is full, when
  `close_batch()` is called, and `batch_timeout_s` after its first item arrived.
- `flush()` discards everything in flight without delivering it (a flushing seek); `resume()`
  accepts items again. Results of batches still running when flushed are ignored.
- A batch that runs longer than `timeout_s` is given up: its items get a `TimedOut` outcome
  and are delivered in order, the worker is `interrupt()`ed (a process is killed and
  replaced), and a worker that cannot be interrupted (a thread) is left to finish on its own
  while a new thread takes its place.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

WATCH_INTERVAL_S = 0.05  # how often the output thread looks at batch ages when idle
STOP_AFTER_INTERRUPT_S = 6.0  # a killed process's worker thread still closes it


def added_latency_ns(
    workers: int, batch_size: int, batch_timeout_ns: int | None, frame_ns: int | None
) -> tuple[int, int | None]:
    """What the engine adds to a LATENCY query's (min, max), in nanoseconds.

    min: a frame may wait for the rest of its batch, (batch_size - 1) frame durations, or
    batch_timeout_ns when that is shorter. max: up to (workers + 1) x batch_size frames are
    held, like a queue of that many frames. `frame_ns` None (no framerate): max is None
    (unknown), and min is the batch timeout, or 0 without one.
    """
    wait = 0
    if batch_size > 1:
        waits = [w for w in (frame_ns and (batch_size - 1) * frame_ns, batch_timeout_ns) if w]
        wait = min(waits, default=0)
    held = (workers + 1) * batch_size * frame_ns if frame_ns else None
    return wait, held


@dataclass(frozen=True)
class TimedOut:
    """The outcome of an item whose batch ran longer than the worker timeout."""

    seconds: float


@dataclass(frozen=True)
class Crashed:
    """The outcome of an item whose worker raised outside the library call (a bug or a dead
    process): `text` and `debug` describe it."""

    text: str
    debug: str = ""


@dataclass(eq=False)
class Item:
    """One submitted item; `outcome` is set by the worker (or the engine) before delivery."""

    seq: int
    payload: Any
    work: bool
    generation: int
    outcome: Any = None
    done: bool = False


@dataclass(eq=False)
class Batch:
    items: list[Item] = field(default_factory=list)
    opened: float = 0.0  # monotonic time of its first item
    started: float = 0.0  # monotonic time a worker took it
    abandoned: bool = False  # timed out or flushed: the worker's results are ignored
    replaced: bool = False  # its thread could not be interrupted and was replaced


class Worker(Protocol):
    """What runs batches, one per worker thread."""

    def run(self, payloads: list[Any]) -> list[Any]:
        """One outcome per payload: the library's results or its failure."""

    def interrupt(self, stopping: bool = False) -> bool:
        """Stop a batch that runs too long (or still runs when the engine stops). True when
        run() will return soon (a killed process), False when it cannot be stopped (a thread)."""

    def close(self) -> None:
        """Let go of what the worker holds (a process is stopped)."""


class OrderedWorkers:
    """N workers, items in order out. See the module's docstring."""

    def __init__(
        self,
        workers: list[Worker],
        deliver: Callable[[Item], bool],
        *,
        batch_size: int = 1,
        batch_timeout_s: float | None = None,
        timeout_s: float | None = None,
        max_in_flight: int | None = None,
        make_worker: Callable[[], Worker] | None = None,
        name: str = "empycustom",
    ) -> None:
        if not workers:
            raise ValueError("OrderedWorkers needs at least one worker")
        self.batch_size = max(1, batch_size)
        # One batch waiting beyond those being worked on: a worker that finishes finds its next
        # batch ready, and a frame waits for at most one batch ahead of it.
        self.max_in_flight = max_in_flight or (len(workers) + 1) * self.batch_size
        self.batch_timeout_s = batch_timeout_s
        self.timeout_s = timeout_s
        self._deliver = deliver
        self._make_worker = make_worker
        self._name = name
        # One lock, three conditions, so that each change wakes only the threads it concerns:
        # `_cond` the streaming thread (room for an item, or drained), `_work` the worker
        # threads (a batch to run), `_out` the output thread (the next item may be done).
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        self._work = threading.Condition(lock)
        self._out = threading.Condition(lock)
        self._items: deque[Item] = deque()  # submitted, not yet delivered, in order
        self._open = Batch()
        self._queued: deque[Batch] = deque()  # full batches waiting for a worker
        self._running: dict[int, tuple[Batch, Worker]] = {}  # thread ident -> its batch
        self._seq = 0
        self._generation = 0
        self._flushing = False
        self._failed = False  # deliver() said stop: nothing more is accepted
        self._stopping = False
        self._delivering = False
        self._threads: list[threading.Thread] = []
        for index, worker in enumerate(workers):
            self._start_thread(worker, index)
        self._output = threading.Thread(target=self._output_loop, name=f"{name}-out", daemon=True)
        self._output.start()

    # Streaming thread

    def submit(
        self, payload: Any, work: bool = True, cancelled: Callable[[], bool] | None = None
    ) -> bool:
        """Add an item in stream order; blocks while `max_in_flight` items are held.

        False when the item was not taken: flushing, stopped, delivery failed, or
        `cancelled()` turned true while waiting (looked at every WATCH_INTERVAL_S)."""
        with self._cond:
            while (
                len(self._items) >= self.max_in_flight
                and not self._flushing
                and not self._failed
                and not self._stopping
            ):
                self._cond.wait(WATCH_INTERVAL_S if cancelled else None)
                if cancelled is not None and cancelled():
                    return False
            if self._flushing or self._failed or self._stopping:
                return False
            item = Item(self._seq, payload, work, self._generation)
            self._seq += 1
            self._items.append(item)
            if not work:
                item.done = True
                self._out.notify()
            else:
                if not self._open.items:
                    self._open.opened = time.monotonic()
                self._open.items.append(item)
                if len(self._open.items) >= self.batch_size:
                    self._dispatch_open()
            return True

    def close_batch(self) -> None:
        """Run the open batch now, partial or not (options changed, a boundary is wanted)."""
        with self._cond:
            if self._open.items:
                self._dispatch_open()

    def drain(self, cancelled: Callable[[], bool] | None = None) -> bool:
        """Run the open batch and wait until every item submitted so far has been delivered.

        False when flushed, stopped or failed meanwhile (or `cancelled()` turned true)."""
        with self._cond:
            if self._open.items:
                self._dispatch_open()
            while (self._items or self._delivering) and not (
                self._flushing or self._failed or self._stopping
            ):
                self._cond.wait(WATCH_INTERVAL_S if cancelled else None)
                if cancelled is not None and cancelled():
                    return False
            return not (self._flushing or self._failed or self._stopping)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def failed(self) -> bool:
        return self._failed

    # Any thread

    def flush(self) -> None:
        """Discard every item in flight, undelivered; wakes a blocked submit() or drain()."""
        with self._cond:
            self._flushing = True
            self._discard()

    def resume(self) -> None:
        """Accept items again after a flush (a failed engine stays failed)."""
        with self._cond:
            self._flushing = False
            self._wake_all()

    def stop(self, join_timeout_s: float = 1.0) -> None:
        """Discard what is in flight, end the threads and close the workers."""
        with self._cond:
            self._stopping = True
            self._discard()
        deadline = time.monotonic() + join_timeout_s
        self._output.join(max(0.0, deadline - time.monotonic()))
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            still_running = [worker for _batch, worker in self._running.values()]
        # A hung process is killed (its thread then closes it); a thread finishes on its own.
        if all([worker.interrupt(stopping=True) for worker in still_running]):
            for thread in self._threads:
                thread.join(STOP_AFTER_INTERRUPT_S)

    def _discard(self) -> None:
        self._generation += 1
        self._items.clear()
        self._open = Batch()
        self._queued.clear()
        for batch, _worker in self._running.values():
            batch.abandoned = True
        self._wake_all()

    def _wake_all(self) -> None:
        self._cond.notify_all()
        self._work.notify_all()
        self._out.notify_all()

    def _dispatch_open(self) -> None:
        self._queued.append(self._open)
        self._open = Batch()
        self._work.notify()

    # Worker threads

    def _start_thread(self, worker: Worker, index: int) -> None:
        thread = threading.Thread(
            target=self._worker_loop, args=(worker,), name=f"{self._name}-worker{index}",
            daemon=True,
        )  # fmt: skip
        self._threads.append(thread)
        thread.start()

    def _worker_loop(self, worker: Worker) -> None:
        me = threading.get_ident()
        try:
            while True:
                with self._cond:
                    while not self._queued and not self._stopping:
                        self._work.wait()
                    if self._stopping:
                        return
                    batch = self._queued.popleft()
                    batch.started = time.monotonic()
                    self._running[me] = (batch, worker)
                try:
                    outcomes = worker.run([item.payload for item in batch.items])
                except BaseException as error:  # a bug in the worker must not stop the stream
                    crash = Crashed(f"{type(error).__name__}: {error}", traceback.format_exc())
                    outcomes = [crash] * len(batch.items)
                with self._cond:
                    if batch.replaced:
                        return  # a new thread serves in this one's place
                    self._running.pop(me, None)
                    if not batch.abandoned:
                        for item, outcome in zip(batch.items, outcomes, strict=True):
                            item.outcome = outcome
                            item.done = True
                        # This thread delivers what is now ready at the head (one thread
                        # hand-over less per frame than waking the output thread for it).
                        self._deliver_ready()
        finally:
            worker.close()

    # Output thread

    def _output_loop(self) -> None:
        """Delivers what no worker thread does (skipped frames, timed-out batches, items that
        became ready while another thread was delivering) and watches the batches' ages."""
        with self._cond:
            while not self._stopping:
                self._watch()
                self._deliver_ready()
                if not self._stopping:
                    self._out.wait(self._wait_s())

    # Delivery, from the output thread or a worker thread, one at a time

    def _ready(self) -> bool:
        return (
            not self._delivering
            and not self._flushing
            and not self._stopping
            and bool(self._items)
            and self._items[0].done
        )

    def _deliver_ready(self) -> None:
        """With the lock held: deliver the done items at the head, in order, unless another
        thread is delivering (it takes them then). The lock is let go during deliver()."""
        while self._ready():
            item = self._items.popleft()
            self._delivering = True
            generation = self._generation
            self._cond.release()
            try:
                carry_on = generation != item.generation or self._deliver(item)
            except BaseException:  # deliver() must not end the delivering thread
                traceback.print_exc()
                carry_on = False
            finally:
                self._cond.acquire()
            self._delivering = False
            if not carry_on:
                self._failed = True
                self._discard()
            self._cond.notify_all()  # room for one more item; a drain may be over

    def _wait_s(self) -> float | None:
        if self.timeout_s is None and self.batch_timeout_s is None:
            return None
        return WATCH_INTERVAL_S

    def _watch(self) -> None:
        """Run an open batch that waited batch_timeout_s; give up batches that ran too long."""
        now = time.monotonic()
        if (
            self.batch_timeout_s is not None
            and self._open.items
            and now - self._open.opened >= self.batch_timeout_s
        ):
            self._dispatch_open()
        if self.timeout_s is None:
            return
        for ident, (batch, worker) in list(self._running.items()):
            if batch.abandoned or now - batch.started < self.timeout_s:
                continue
            batch.abandoned = True
            outcome = TimedOut(now - batch.started)
            for item in batch.items:
                item.outcome = outcome
                item.done = True
            if not worker.interrupt() and self._make_worker is not None:
                # A thread cannot be stopped: it is retired when it returns, a new one serves.
                batch.replaced = True
                self._running.pop(ident, None)
                self._start_thread(self._make_worker(), len(self._threads))

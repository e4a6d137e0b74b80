"""The ordered dispatch engine (library/workers.py) on plain data: order, backpressure,
batches, drain, flush and timeouts, without GStreamer."""

from __future__ import annotations

import random
import threading
import time

from empycustom.library.workers import OrderedWorkers, TimedOut, added_latency_ns


class SleepyWorker:
    """Sleeps the time each payload asks for, returns the payload doubled."""

    def __init__(self, log: list | None = None) -> None:
        self.log = log
        self.closed = False

    def run(self, payloads):
        if self.log is not None:
            self.log.append(list(payloads))
        for payload in payloads:
            time.sleep(payload["sleep"])
        return [payload["n"] * 2 for payload in payloads]

    def interrupt(self, stopping: bool = False) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


class Collector:
    def __init__(self) -> None:
        self.items = []
        self.lock = threading.Lock()

    def __call__(self, item) -> bool:
        with self.lock:
            self.items.append(item)
        return True


def engine(workers=2, **kwargs):
    out = Collector()
    log: list = []
    pool = OrderedWorkers(
        [SleepyWorker(log) for _ in range(workers)], out, make_worker=SleepyWorker, **kwargs
    )
    return pool, out, log


def test_order_and_completeness_with_random_work_times():
    pool, out, _ = engine(workers=3)
    rng = random.Random(7)
    for n in range(2000):
        assert pool.submit({"n": n, "sleep": rng.choice([0, 0, 0.0005, 0.002])}, work=n % 5 != 0)
    assert pool.drain()
    pool.stop()
    assert [item.payload["n"] for item in out.items] == list(range(2000))
    for item in out.items:
        expected = None if item.payload["n"] % 5 == 0 else item.payload["n"] * 2
        assert item.outcome == expected


def test_default_bound_is_one_batch_beyond_the_workers():
    pool, _out, _ = engine(workers=2, batch_size=4)
    assert pool.max_in_flight == 12
    pool.stop()


def test_backpressure_bounds_items_in_flight():
    pool, out, _ = engine(workers=2, max_in_flight=3)
    peak = 0
    for n in range(40):
        pool.submit({"n": n, "sleep": 0.002})
        peak = max(peak, pool.in_flight)
    assert pool.drain()
    pool.stop()
    assert peak <= 3
    assert len(out.items) == 40


def test_work_actually_overlaps():
    pool, out, _ = engine(workers=2)
    began = time.monotonic()
    for n in range(20):
        pool.submit({"n": n, "sleep": 0.02})
    pool.drain()
    elapsed = time.monotonic() - began
    pool.stop()
    assert len(out.items) == 20
    assert elapsed < 20 * 0.02 * 0.8, elapsed  # serial would take 0.4 s


def test_batches_full_and_partial_at_drain():
    pool, out, log = engine(workers=1, batch_size=4)
    for n in range(10):
        pool.submit({"n": n, "sleep": 0})
    assert pool.drain()
    pool.stop()
    assert [len(batch) for batch in log] == [4, 4, 2]
    assert [item.outcome for item in out.items] == [n * 2 for n in range(10)]


def test_batch_timeout_runs_a_partial_batch():
    pool, out, log = engine(workers=1, batch_size=4, batch_timeout_s=0.05)
    pool.submit({"n": 0, "sleep": 0})
    pool.submit({"n": 1, "sleep": 0})
    deadline = time.monotonic() + 2
    while len(out.items) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.stop()
    assert [len(batch) for batch in log] == [2]
    assert len(out.items) == 2


def test_close_batch_makes_a_boundary():
    pool, out, log = engine(workers=1, batch_size=4)
    pool.submit({"n": 0, "sleep": 0})
    pool.close_batch()
    for n in range(1, 5):
        pool.submit({"n": n, "sleep": 0})
    pool.drain()
    pool.stop()
    assert [len(batch) for batch in log] == [1, 4]


def test_flush_discards_in_flight_and_resume_accepts_again():
    pool, out, _ = engine(workers=2)
    for n in range(3):  # (workers + 1) x batch_size: none waits for room
        pool.submit({"n": n, "sleep": 0.1})
    pool.flush()
    assert not pool.submit({"n": 99, "sleep": 0})
    assert not pool.drain()
    pool.resume()
    pool.submit({"n": 100, "sleep": 0})
    assert pool.drain()
    pool.stop()
    assert [item.payload["n"] for item in out.items] == [100]


def test_flush_wakes_a_blocked_submit():
    pool, out, _ = engine(workers=1, max_in_flight=1)
    pool.submit({"n": 0, "sleep": 0.5})
    results = []
    thread = threading.Thread(target=lambda: results.append(pool.submit({"n": 1, "sleep": 0})))
    thread.start()
    time.sleep(0.05)
    began = time.monotonic()
    pool.flush()
    thread.join(2)
    assert results == [False]
    assert time.monotonic() - began < 0.3
    pool.stop()


def test_a_hung_thread_is_given_up_and_replaced():
    pool, out, _ = engine(workers=1, timeout_s=0.2)
    pool.submit({"n": 0, "sleep": 1.0})  # hangs past the timeout
    pool.submit({"n": 1, "sleep": 0})
    assert pool.drain()
    pool.stop()
    assert isinstance(out.items[0].outcome, TimedOut)
    assert out.items[1].outcome == 2


def test_deliver_failure_stops_accepting():
    calls = []

    def deliver(item) -> bool:
        calls.append(item.seq)
        return item.seq < 2

    pool = OrderedWorkers([SleepyWorker()], deliver)
    for n in range(3):
        pool.submit({"n": n, "sleep": 0})
    assert not pool.drain()
    assert pool.failed
    assert not pool.submit({"n": 3, "sleep": 0})
    pool.stop()
    assert calls == [0, 1, 2]


def test_stop_closes_workers():
    workers = [SleepyWorker(), SleepyWorker()]
    pool = OrderedWorkers(workers, Collector())
    pool.stop()
    assert all(worker.closed for worker in workers)


def test_added_latency_is_the_batch_wait_and_the_frames_held():
    frame = 40_000_000  # 25 frames/s
    assert added_latency_ns(2, 1, None, frame) == (0, 3 * frame)  # held: (2 + 1) x 1 frames
    assert added_latency_ns(2, 4, None, frame) == (3 * frame, 12 * frame)
    assert added_latency_ns(2, 4, 20_000_000, frame) == (20_000_000, 12 * frame)  # timeout first
    assert added_latency_ns(2, 4, 500_000_000, frame) == (3 * frame, 12 * frame)
    assert added_latency_ns(3, 2, None, None) == (0, None)  # no framerate: max unknown
    assert added_latency_ns(3, 2, 10_000_000, None) == (10_000_000, None)

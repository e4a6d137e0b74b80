"""The publisher: the streaming thread hands it messages, two threads of its own do the rest.

- `submit()` (the streaming thread) appends to a memory queue: no I/O, no lock, no wake-up.
- The writer thread moves queued messages into the outbox on disk every WRITE_INTERVAL,
  whatever the broker does (one write for all of them: waking it per frame would cost the
  streaming thread a thread switch and the writer a system call per frame).
- The sender thread connects (backoff doubling up to a cap), sends the outbox's records in
  order, a window at a time, and drops each from the outbox when the broker acknowledged it.
  After a reconnect it starts again at the oldest record not acknowledged (so a message can
  arrive twice, never not at all while it is in the outbox).
"""

from __future__ import annotations

import collections
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from empycustom.publish.backends import Backend, ConnectFailed, ConnectionLost
from empycustom.publish.outbox import Outbox, OutboxClosed

# report(level, text): level is "error", "warning" or "info"; texts hold no secrets.
Report = Callable[[str, str], None]

INITIAL_BACKOFF = 0.1  # seconds before the first reconnect attempt
WRITE_INTERVAL = 0.01  # seconds between two moves of the queue into the outbox
QUEUE_LIMIT = 100_000  # messages waiting in memory for the writer thread (it is never that late)
DROP_WARNING_INTERVAL = 5.0  # seconds between two "outbox full" warnings


@dataclass
class Counters:
    delivered: int = 0  # acknowledged by the broker
    dropped: int = 0  # the oldest, thrown away because the outbox was full


class Publisher:
    def __init__(
        self,
        backend: Backend,
        outbox: Outbox,
        report: Report,
        *,
        broker: str,
        window: int = 256,
        reconnect_max: float = 10.0,
    ) -> None:
        self.backend = backend
        self.outbox = outbox
        self.report = report
        self.broker = broker  # redacted URI, for messages
        self.window = window
        self.reconnect_max = reconnect_max
        self.counters = Counters()
        self._queue: collections.deque[bytes] = collections.deque()
        self._appended = threading.Event()  # the sender has something to do
        self._closing = threading.Event()  # the writer: move what is queued, then end
        self._stopping = threading.Event()  # the sender: deliver until the deadline, then end
        self._drain_deadline = 0.0
        self._connected = False
        self._threads: list[threading.Thread] = []
        self._drop_warned_at = -DROP_WARNING_INTERVAL
        self._write_failure_reported = False

    # -- the streaming thread -----------------------------------------------------------------
    def submit(self, destination: str, payload: bytes) -> None:
        if len(self._queue) >= QUEUE_LIMIT:
            self.counters.dropped += 1
            return
        self._queue.append(destination.encode() + b"\t" + payload)

    # -- control ------------------------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._write_loop, "writer"), (self._send_loop, "sender")):
            thread = threading.Thread(target=target, name=f"empycustom-publish-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def pending(self) -> int:
        """Messages not yet acknowledged: in memory and in the outbox."""
        return len(self._queue) + len(self.outbox)

    def stop(self, drain_timeout: float) -> int:
        """Stop the threads; while connected, first wait up to `drain_timeout` s for the outbox
        to be delivered. Returns how many messages were left undelivered (kept in the outbox)."""
        self._drain_deadline = time.monotonic() + drain_timeout
        writer, sender = self._threads
        self._closing.set()
        writer.join()  # first: everything submitted is in the outbox before the sender ends
        self._stopping.set()
        self._appended.set()
        # A sender blocked in a connect attempt or on a frozen broker is left behind (a daemon
        # thread): the outbox closes under it and keeps what it had not delivered.
        sender.join(drain_timeout + 1.0)
        left = len(self.outbox)
        self.outbox.close()
        return left

    # -- the writer thread --------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            stopping = self._closing.is_set()
            records = []
            while self._queue:
                records.append(self._queue.popleft())
            if records:
                try:
                    dropped = self.outbox.append(records)
                except OSError as error:  # a full disk, a folder removed under it
                    self._write_failed(error, len(records))
                    dropped = 0
                self._appended.set()
                if dropped:
                    self._dropped(dropped)
            if stopping and not self._queue:
                return
            self._closing.wait(WRITE_INTERVAL)

    def _write_failed(self, error: OSError, count: int) -> None:
        self.counters.dropped += count
        if not self._write_failure_reported:
            self._write_failure_reported = True
            self.report(
                "error",
                f"cannot write to the outbox folder (property outbox): {error.strerror or error}; "
                f"{count} messages lost",
            )

    def _dropped(self, count: int) -> None:
        self.counters.dropped += count
        now = time.monotonic()
        if now - self._drop_warned_at >= DROP_WARNING_INTERVAL:
            self._drop_warned_at = now
            self.report(
                "warning",
                f"the outbox is full (outbox-limit {self.outbox.limit_bytes} bytes) while "
                f"{self.broker} is unreachable: the oldest messages are dropped, "
                f"{self.counters.dropped} so far",
            )

    # -- the sender thread --------------------------------------------------------------------
    def _send_loop(self) -> None:
        # A write to a socket the broker closed raises SIGPIPE in the writing thread, and a
        # process that did not ignore it (gst-launch-1.0 with the plugin loader does not) dies.
        # Blocked in this thread, the only one writing to the broker, the write fails with EPIPE.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
        try:
            self._send_until_stopped()
        except OutboxClosed:
            pass  # stop() gave up waiting for this thread
        finally:
            self._connected = False
            self.backend.close()

    def _send_until_stopped(self) -> None:
        self._backoff = INITIAL_BACKOFF  # reset whenever the broker acknowledges something
        reported: str | None = None  # the failure already reported in this outage
        outage = False
        while True:
            if self._stopping.is_set() and (
                not self._connected
                or len(self.outbox) == 0
                or time.monotonic() > self._drain_deadline
            ):
                return
            if not self._connected:
                try:
                    self.backend.connect()
                except ConnectFailed as failure:
                    if str(failure) != reported:
                        reported = str(failure)
                        self._report_failure(failure)
                    outage = True
                    self._wait_before_retrying()
                    continue
                self._connected = True
                if outage:
                    self.report(
                        "info",
                        f"connected to {self.broker} again; sending {len(self.outbox)} "
                        "messages kept in the outbox first",
                    )
                outage, reported = False, None
            try:
                self._send_window()
            except (ConnectionLost, ConnectFailed) as failure:
                self._connected = False
                self.backend.close()
                outage = True
                if isinstance(failure, ConnectFailed) and failure.permanent:
                    if str(failure) != reported:
                        reported = str(failure)
                        self._report_failure(failure)
                    self._wait_before_retrying()
                else:
                    reported = None
                    self.report(
                        "warning",
                        f"lost the connection to {self.broker} ({failure}); messages are kept in "
                        "the outbox and sent when it is back",
                    )

    def _wait_before_retrying(self) -> None:
        self._stopping.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.reconnect_max)

    def _send_window(self) -> None:
        """Send the outbox in order, keeping up to `window` messages in flight, until the
        connection fails (an exception) or the publisher stops."""
        next_seq = self.outbox.first
        in_flight: set[int] = set()
        while True:
            if next_seq < self.outbox.first:
                in_flight = {seq for seq in in_flight if seq >= self.outbox.first}
                next_seq = self.outbox.first
            room = self.window - len(in_flight)
            if room > 0:
                for seq, record in self.outbox.read(next_seq, room):
                    destination, _, payload = record.partition(b"\t")
                    self.backend.send(seq, destination.decode(), payload)
                    in_flight.add(seq)
                    next_seq = seq + 1
            if not in_flight:
                if self._stopping.is_set():
                    return
                self._appended.wait(0.05)
                self._appended.clear()
                self.backend.poll(0)  # keeps the connection alive (MQTT pings)
                continue
            acked = self.backend.poll(0.02)
            if acked:
                self._backoff = INITIAL_BACKOFF
                in_flight.difference_update(acked)
                self.counters.delivered += len(acked)
                oldest_in_flight = min(in_flight) if in_flight else next_seq
                self.outbox.acknowledge(oldest_in_flight)
            if self._stopping.is_set() and time.monotonic() > self._drain_deadline:
                return

    def _report_failure(self, failure: ConnectFailed) -> None:
        what = "error" if failure.permanent else "warning"
        self.report(
            what,
            f"cannot publish to {self.broker} (property {failure.setting}): {failure}; "
            "messages are kept in the outbox and retried",
        )

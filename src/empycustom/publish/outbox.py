"""The outbox: every message not yet acknowledged by the broker, in order, on disk.

A folder of segment files, `<first sequence number>.jsonl`, one record per line, and a file
`delivered` with the sequence number of the first record not yet acknowledged. Records are
appended (flushed to the operating system, so they survive the application stopping or
crashing; not a power cut), read back for sending, and dropped once acknowledged: a segment
is deleted when all of it is. A new Outbox on the same folder continues where the last one
stopped. Over the size limit, the oldest segments are dropped and their records counted.

Thread-safe: one lock around every operation, each of them short.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SUFFIX = ".jsonl"
CURSOR = "delivered"
LOCK = "lock"
CURSOR_SAVE_INTERVAL = 0.2  # seconds; a crash in between only repeats records (duplicates)


@dataclass
class Segment:
    path: Path
    first: int  # sequence number of its first record
    offsets: list[int] = field(default_factory=list)  # start of each record in the file
    size: int = 0

    @property
    def end(self) -> int:
        return self.first + len(self.offsets)


class OutboxClosed(Exception):
    pass


class OutboxInUse(OSError):
    """Two outboxes in one folder would send each other's records and delete each other's files."""


class Outbox:
    def __init__(self, folder: str | os.PathLike[str], limit_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.folder / LOCK, "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise OutboxInUse("in use by another outbox (another element or process)") from None
        self.limit_bytes = limit_bytes
        # Several segments fit in the limit, so dropping the oldest frees part of it only.
        self.segment_bytes = max(4096, min(4 << 20, limit_bytes // 8))
        self.dropped = 0
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._writer: BinaryIO | None = None
        self._readers: dict[Path, BinaryIO] = {}
        self._cursor_saved_at = 0.0
        self._closed = False
        self._load()

    # -- state --------------------------------------------------------------------------------
    @property
    def first(self) -> int:
        """Sequence number of the oldest record not yet acknowledged."""
        return self._first

    @property
    def end(self) -> int:
        """Sequence number the next appended record gets."""
        return self._segments[-1].end if self._segments else self._first

    def __len__(self) -> int:
        return self.end - self._first

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self._segments)

    # -- operations ---------------------------------------------------------------------------
    def append(self, records: list[bytes]) -> int:
        """Add records at the end; returns how many old records were dropped to stay in the
        limit. Records must not contain a line break."""
        with self._lock:
            self._check_open()
            for record in records:
                tail = self._segments[-1] if self._segments else None
                if tail is None or self._writer is None or tail.size >= self.segment_bytes:
                    tail = self._new_segment()
                assert self._writer is not None
                tail.offsets.append(tail.size)
                self._writer.write(record + b"\n")
                tail.size += len(record) + 1
            if self._writer is not None:
                self._writer.flush()
            dropped = 0
            while len(self._segments) > 1 and self.size > self.limit_bytes:
                oldest = self._segments[0]
                dropped += oldest.end - max(self._first, oldest.first)
                self._first = self._segments[1].first
                self._remove(oldest)
            self.dropped += dropped
            if dropped:
                self._save_cursor(force=True)
            return dropped

    def read(self, start: int, count: int) -> list[tuple[int, bytes]]:
        """Up to `count` records from sequence number `start` (or the oldest kept, if later)."""
        with self._lock:
            self._check_open()
            start = max(start, self._first)
            records: list[tuple[int, bytes]] = []
            for segment in self._segments:
                if len(records) >= count:
                    break
                if segment.end <= start:
                    continue
                index = start - segment.first
                stop = min(len(segment.offsets), index + count - len(records))
                begin = segment.offsets[index]
                finish = segment.offsets[stop] if stop < len(segment.offsets) else segment.size
                reader = self._readers.get(segment.path)
                if reader is None:
                    reader = self._readers[segment.path] = open(segment.path, "rb")  # noqa: SIM115
                reader.seek(begin)
                lines = reader.read(finish - begin).split(b"\n")[: stop - index]
                numbers = range(segment.first + index, segment.first + stop)
                records.extend(zip(numbers, lines, strict=True))
                start = segment.first + stop
            return records

    def acknowledge(self, upto: int) -> None:
        """Every record before sequence number `upto` was delivered."""
        with self._lock:
            if self._closed or upto <= self._first:
                return
            self._first = min(upto, self.end)
            while self._segments and self._segments[0].end <= self._first:
                self._remove(self._segments[0])
            self._save_cursor()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._save_cursor(force=True)
            for handle in (*self._readers.values(), self._writer):
                if handle is not None:
                    handle.close()
            self._readers.clear()
            self._writer = None
            self._closed = True
            self._lock_file.close()  # releases the folder

    # -- internals ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise OutboxClosed("the outbox is closed")

    def _load(self) -> None:
        cursor_path = self.folder / CURSOR
        try:
            delivered = int(cursor_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            delivered = 0
        for path in sorted(self.folder.glob("*" + SUFFIX)):
            try:
                first = int(path.stem)
            except ValueError:
                continue
            data = path.read_bytes()
            complete = data.rfind(b"\n") + 1
            if complete < len(data):  # a record cut short when the last run stopped
                with open(path, "r+b") as handle:
                    handle.truncate(complete)
            segment = Segment(path, first, size=complete)
            position = 0
            while position < complete:
                segment.offsets.append(position)
                position = data.index(b"\n", position) + 1
            if segment.end <= delivered or not segment.offsets:
                path.unlink()
                continue
            self._segments.append(segment)
        self._first = max(delivered, self._segments[0].first if self._segments else delivered)

    def _new_segment(self) -> Segment:
        if self._writer is not None:
            self._writer.close()
        segment = Segment(self.folder / f"{self.end:020d}{SUFFIX}", self.end)
        self._writer = open(segment.path, "ab")  # noqa: SIM115
        self._segments.append(segment)
        return segment

    def _remove(self, segment: Segment) -> None:
        self._segments.remove(segment)
        reader = self._readers.pop(segment.path, None)
        if reader is not None:
            reader.close()
        if not self._segments and self._writer is not None:
            self._writer.close()
            self._writer = None
        segment.path.unlink(missing_ok=True)

    def _save_cursor(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._cursor_saved_at < CURSOR_SAVE_INTERVAL:
            return
        self._cursor_saved_at = now
        temporary = self.folder / (CURSOR + ".tmp")
        temporary.write_text(str(self._first))
        os.replace(temporary, self.folder / CURSOR)

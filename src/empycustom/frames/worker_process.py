"""Worker processes (`worker-kind=process`): the library runs in a process of its own.

Each worker process is a fresh Python interpreter (`python -m empycustom.elements.worker_main
FD`, see ENTRY) that imports the library, runs its start() and stop(), and calls it on the
frames it is sent. Frames travel through one shared-memory block per worker (a slot per frame
of a batch, and as many again for output frames when not in place); in_meta, options, events
and the results go through a socket as pickles, and so do the objects add_object() and
remove_object() create and remove there (recorded, made on the element's buffer when the frame
comes back). In the process each frame is a `Gst.Buffer` whose memory is the shared slot, so
the library maps and writes it as usual: in place, what it writes is copied back into the
element's buffer; not in place, its output frame is written into an output slot and copied
into the output buffer.

`ProcessWorker` is the element's side: one per worker thread of the OrderedWorkers engine. A
process that dies (a crash, os._exit) fails the frames it held with `Crashed` and is replaced
by a new one before the next batch; `interrupt()` kills a process that runs too long.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Protocol

from empycustom import _native
from empycustom.frames.calls import Dropped, Frames, Raised, Returned, call_library
from empycustom.frames.layout import FrameLayout
from empycustom.frames.views import write_output
from empycustom.gst.clib import gst
from empycustom.gst.runtime import Gst
from empycustom.library.loader import LibraryError, load_library, start_library, stop_library
from empycustom.library.reload import load_new_version
from empycustom.library.workers import Crashed

STOP_WAIT_S = 5.0  # how long close() waits for the library's stop() before killing the process
POLL_S = 0.1


@dataclass(frozen=True)
class Spec:
    """What a worker process loads."""

    path: str
    in_place: bool
    batch: bool
    options: dict[str, Any]


class Editing(Protocol):
    """add_object()/remove_object() in a worker process (meta.editing, a layer above): they
    are recorded per frame and made on the buffer by the element."""

    def record_edits(
        self,
        in_meta: dict[str, Any],
        rois: list[int | None],
        label_ids: dict[str, int],
        batch: bool,
    ) -> list[tuple[Any, ...]]: ...

    def close_frame(self, in_meta: dict[str, Any], batch: bool = False) -> None: ...


ENTRY = "empycustom.elements.worker_main"  # `python -m ENTRY FD` runs main(argv, editing)


class WorkerGone(Exception):
    """The worker process died or stopped answering."""


class Connection:
    """Pickled messages over a socket, sent with MSG_NOSIGNAL: writing to a process that died
    raises BrokenPipeError instead of raising SIGPIPE, which kills applications (gst-launch-1.0,
    a Python program that restored the default action) that do not ignore it."""

    _HEADER = struct.Struct("!Q")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._poller = select.poll()  # not select.select(): descriptors may be above 1023
        self._poller.register(sock, select.POLLIN)

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self.sock.sendall(self._HEADER.pack(len(data)) + data, socket.MSG_NOSIGNAL)

    def poll(self, timeout: float) -> bool:
        return bool(self._poller.poll(timeout * 1000))

    def recv(self) -> Any:
        (size,) = self._HEADER.unpack(self._exactly(self._HEADER.size))
        return pickle.loads(self._exactly(size))

    def _exactly(self, size: int) -> bytes:
        data = bytearray(size)
        view = memoryview(data)
        while view:
            count = self.sock.recv_into(view)
            if count == 0:
                raise EOFError("the other side closed the connection")
            view = view[count:]
        return bytes(data)

    def close(self) -> None:
        self.sock.close()


# The element's side


class ProcessWorker:
    """One worker process and its shared memory, driven from one worker thread."""

    def __init__(
        self,
        spec: Spec,
        index: int,
        start_timeout_s: float | None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.index = index
        self.start_timeout_s = start_timeout_s
        self.warn = warn  # reports a process that died between frames (no frame failed)
        self.process: subprocess.Popen | None = None
        self.connection: Connection | None = None
        self.shared: SharedMemory | None = None
        self.slot = 0  # bytes per frame slot
        self.slots = 0
        self.stopping = False  # the element stops: a killed process is not replaced

    # Life cycle

    def launch(self) -> None:
        """Start the process; its start() runs while the others launch."""
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [_python(), "-m", ENTRY, str(child.fileno())],
            pass_fds=[child.fileno()],
            env=env,
            close_fds=True,
        )
        child.close()
        self.connection = Connection(parent)
        self.connection.send(("start", self.spec))
        self.slot = self.slots = 0

    def started(self) -> LibraryError | None:
        """Wait for the process's start(); the failure, if any (the process is then ended)."""
        try:
            reply = self._receive(self.start_timeout_s)
        except WorkerGone as gone:
            self.kill()
            return LibraryError(f"worker process {self.index} for custom-lib "
                                f"'{self.spec.path}' failed to start: {gone}")  # fmt: skip
        if reply[0] == "failed":
            self.kill()
            return LibraryError(reply[1], reply[2])
        return None

    def reload(self, options: dict[str, Any]) -> LibraryError | None:
        """Load the file again in the process (the running version stays if that fails)."""
        try:
            self._send(("reload", options))
            reply = self._receive(self.start_timeout_s)
        except WorkerGone as gone:
            return LibraryError(f"worker process {self.index} died while reloading: {gone}")
        return None if reply[0] == "ok" else LibraryError(reply[1], reply[2])

    def close(self) -> None:
        """Run the library's stop() in the process and end it (killed if it does not return)."""
        failure = None
        if self.process is not None and self.process.poll() is None:
            try:
                self._send(("stop", self.spec.options))
                reply = self._receive(STOP_WAIT_S)
                if reply[0] == "failed":
                    failure = LibraryError(reply[1], reply[2])
            except WorkerGone:
                pass
        self.kill()
        self.stop_failure = failure

    stop_failure: LibraryError | None = None

    def interrupt(self, stopping: bool = False) -> bool:
        # Only the signal: the worker thread sees the process gone and cleans up itself.
        self.stopping = self.stopping or stopping
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
        return True

    def kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait()
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self._release_shared()

    def _release_shared(self) -> None:
        if self.shared is not None:
            self.shared.close()
            with contextlib.suppress(FileNotFoundError):
                self.shared.unlink()
            self.shared = None

    # Frames

    def run(self, jobs: list[Any]) -> list[Any]:
        if self.connection is None or self.process is None or self.process.poll() is not None:
            died = None
            if self.process is not None and self.process.poll() is not None:
                died = (
                    f"worker process {self.index} (pid {self.process.pid}) of custom-lib "
                    f"'{self.spec.path}' {_exit_text(self.process)} between frames"
                )
            failure = self._replace()
            if failure is not None:
                text = failure if died is None else f"{died}; it could not be replaced: {failure}"
                return [Crashed(text)] * len(jobs)
            if died is not None and self.warn is not None:
                self.warn(f"{died}; it was replaced by a new one")
        try:
            return self._run(jobs)
        except WorkerGone as gone:
            text = (
                f"worker process {self.index} (pid {self.process.pid}) of custom-lib "
                f"'{self.spec.path}' {gone}"
            )
            self.kill()
            if self.stopping:
                return [Crashed(text)] * len(jobs)
            failure = self._replace()
            if failure is not None:
                text += f"; it could not be replaced: {failure}"
            else:
                text += "; it was replaced by a new one"
            return [Crashed(text)] * len(jobs)

    def _replace(self) -> str | None:
        self.kill()
        try:
            self.launch()
        except OSError as error:
            return f"cannot start a worker process: {error}"
        failure = self.started()
        return None if failure is None else str(failure)

    def _run(self, jobs: list[Any]) -> list[Any]:
        first = jobs[0]
        sizes = [job.inbuf.get_size() for job in jobs]
        self._ensure_shared(max(max(sizes), first.layout.size), len(jobs))
        memory = self.shared.buf
        for index, job in enumerate(jobs):
            _copy_from_buffer(memory[index * self.slot : index * self.slot + sizes[index]], job)
        frames = [
            (job.in_meta, size, job.inbuf.pts, job.rois)
            for job, size in zip(jobs, sizes, strict=True)
        ]
        options, label_ids = first.settings.options, first.settings.label_ids
        self._send(("run", first.layout, frames, options, first.events, label_ids))
        reply = self._receive(None)
        outcomes = [_outcome(item) for item in reply[1]]
        output = len(jobs) * self.slot
        for index, (job, outcome) in enumerate(zip(jobs, outcomes, strict=True)):
            if not isinstance(outcome, Returned):
                continue
            start = index * self.slot
            if self.spec.in_place:
                _copy_into_buffer(job.inbuf, memory[start : start + sizes[index]])
            elif not outcome.passed_input:
                # The output slots follow the input slots; the output frame has the caps' layout.
                size = job.layout.size
                write_output(memory[output + start : output + start + size], job.outbuf, job.layout)
        return outcomes

    def _ensure_shared(self, slot: int, count: int) -> None:
        if self.shared is not None and slot <= self.slot and count <= self.slots:
            return
        self._release_shared()
        self.slot, self.slots = slot, max(count, self.slots)
        size = self.slot * self.slots * (1 if self.spec.in_place else 2)
        self.shared = SharedMemory(create=True, size=size)
        self._send(("memory", self.shared.name, self.slot, self.slots))

    def _send(self, message: Any) -> None:
        try:
            self.connection.send(message)
        except (OSError, AttributeError) as error:
            if self.process is not None and self.process.poll() is not None:
                raise WorkerGone(_exit_text(self.process)) from None
            raise WorkerGone(f"could not be reached ({error})") from None

    def _receive(self, timeout: float | None) -> Any:
        waited = 0.0
        while True:
            connection = self.connection
            if connection is None:
                raise WorkerGone("was stopped")
            try:
                if connection.poll(POLL_S):
                    return connection.recv()
            except (EOFError, OSError):
                pass
            else:
                if self.process.poll() is None:
                    waited += POLL_S
                    if timeout is not None and waited >= timeout:
                        raise WorkerGone(f"did not answer within {timeout:g} s")
                    continue
            raise WorkerGone(_exit_text(self.process))


def _exit_text(process: subprocess.Popen) -> str:
    code = process.wait()
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"died (killed by {name})"
    return f"died (exit status {code})"


def _python() -> str:
    """The interpreter to run: this one (the plugin loader may embed Python in gst-launch)."""
    executable = sys.executable
    if executable and os.path.basename(executable).startswith("python"):
        return executable
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and os.path.exists(os.path.join(venv, "bin", "python")):
        return os.path.join(venv, "bin", "python")
    return "python3"


def _copy_from_buffer(target: memoryview, job: Any) -> None:
    mapped = _native.map_buffer(hash(job.inbuf), _native.MAP_READ)
    try:
        _native.stream_copy(target, mapped)
    finally:
        mapped.unmap()


def _copy_into_buffer(buffer: Gst.Buffer, source: memoryview) -> None:
    mapped = _native.map_buffer(hash(buffer), _native.MAP_WRITE)
    if mapped is None:
        raise WorkerGone("could not write the frame back: the buffer is not writable")
    try:
        _native.stream_copy(mapped, source)
    finally:
        mapped.unmap()


def _outcome(item: tuple) -> Any:
    kind = item[0]
    if kind == "returned":
        return Returned(*item[1:])
    if kind == "dropped":
        return Dropped(item[1])
    return Raised(item[1], item[2], item[3])


# The worker process's side


class _Shared:
    """The shared block as the process sees it, with a Gst.Buffer per slot."""

    def __init__(self, name: str, slot: int, slots: int, in_place: bool) -> None:
        self.memory = _attach(name)
        self.slot = slot
        self.slots = slots
        self.in_place = in_place
        self._anchor = ctypes.c_char.from_buffer(self.memory.buf)
        self.address = ctypes.addressof(self._anchor)

    def buffer(self, index: int, size: int, pts: int) -> Gst.Buffer:
        buffer = Gst.Buffer.new()
        memory = gst.gst_memory_new_wrapped(
            0, self.address + index * self.slot, size, 0, size, None, None
        )
        gst.gst_buffer_append_memory(hash(buffer), memory)
        buffer.pts = pts
        return buffer

    def output_buffer(self, index: int, size: int) -> Gst.Buffer:
        return self.buffer(self.slots + index, size, Gst.CLOCK_TIME_NONE)

    def close(self) -> None:
        del self._anchor
        self.memory.close()


def _attach(name: str) -> SharedMemory:
    """Open the element's block without letting this process's resource tracker unlink it at
    exit (Python < 3.13 tracks blocks it merely opens)."""
    try:
        return SharedMemory(name=name, track=False)  # Python 3.13+
    except TypeError:
        from multiprocessing import resource_tracker

        memory = SharedMemory(name=name)
        resource_tracker.unregister(memory._name, "shared_memory")  # noqa: SLF001
        return memory


def _serve(connection: Connection, editing: Editing) -> None:
    library = None
    spec: Spec | None = None
    shared: _Shared | None = None
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return  # the element is gone
        kind = message[0]
        if kind == "start":
            spec = message[1]
            try:
                library = load_library(spec.path, spec.in_place, spec.batch)
                start_library(library, spec.options)
            except LibraryError as error:
                connection.send(("failed", str(error), error.debug))
                return
            connection.send(("ok",))
        elif kind == "memory":
            if shared is not None:
                shared.close()
            shared = _Shared(message[1], message[2], message[3], spec.in_place)
        elif kind == "run":
            replies = _run(library, spec, shared, editing, *message[1:])
            try:
                connection.send(("done", replies))
            except (pickle.PicklingError, TypeError, AttributeError) as error:
                connection.send(("done", _picklable(replies, spec.path, error)))
        elif kind == "reload":
            try:
                new = load_new_version(library, spec.in_place, message[1], spec.batch)
            except LibraryError as error:
                connection.send(("failed", str(error), error.debug))
                continue
            old, library = library, new
            failure = stop_library(old, message[1])
            if failure is not None:
                connection.send(("failed", str(failure), failure.debug))
            else:
                connection.send(("ok",))
        elif kind == "stop":
            failure = stop_library(library, message[1])
            if failure is None:
                connection.send(("ok",))
            else:
                connection.send(("failed", str(failure), failure.debug))
            if shared is not None:
                shared.close()
            return


def _run(
    library: Any,
    spec: Spec,
    shared: _Shared,
    editing: Editing,
    layout: FrameLayout,
    frames: list[tuple[dict[str, Any], int, int, list[int | None]]],
    options: dict[str, Any],
    events: dict[str, Any],
    label_ids: dict[str, int],
) -> list[tuple]:
    buffers = [shared.buffer(i, size, pts) for i, (_meta, size, pts, _rois) in enumerate(frames)]
    outbufs = (
        [None] * len(frames)
        if spec.in_place
        else [shared.output_buffer(i, layout.size) for i in range(len(frames))]
    )
    metas = [meta for meta, _size, _pts, _rois in frames]
    edits = [
        editing.record_edits(meta, rois, label_ids, spec.batch)
        for meta, _size, _pts, rois in frames
    ]
    frames_in = Frames(buffers, outbufs, metas, layout, options, events)
    try:
        outcomes = call_library(library, spec.in_place, spec.batch, frames_in)
    finally:
        for meta in metas:
            editing.close_frame(meta, spec.batch)
    replies = []
    for outcome, meta, edited in zip(outcomes, metas, edits, strict=True):
        if isinstance(outcome, Returned):
            changes = (edited, meta["frame"][0]["object"]) if edited else None
            replies.append(
                ("returned", outcome.out_meta, outcome.passed_input, outcome.left_open, changes)
            )
        elif isinstance(outcome, Dropped):
            replies.append(("dropped", outcome.left_open))
        else:
            replies.append(("raised", outcome.text, outcome.debug, outcome.output_error))
    return replies


def _picklable(replies: list[tuple], path: str, error: BaseException) -> list[tuple]:
    """The replies, each out_meta that cannot be pickled replaced by its failure."""
    safe = []
    for reply in replies:
        try:
            pickle.dumps(reply)
        except Exception as failure:  # noqa: BLE001 - whatever pickling raises
            text = (
                f"custom-lib '{path}': out_meta cannot be sent from the worker process: "
                f"{type(failure).__name__}: {failure}"
            )
            reply = ("raised", text, "".join(traceback.format_exception(failure)), False)
        safe.append(reply)
    return safe


def main(argv: list[str], editing: Editing) -> None:
    # Ctrl-C goes to the whole process group: the element ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(Connection(socket.socket(fileno=int(argv[1]))), editing)

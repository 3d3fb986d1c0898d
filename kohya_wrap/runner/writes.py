"""What the supervisor writes must survive hostile output and a full disk: a line-length bound for the
parser, a train.log writer that stops (and says why) instead of crashing, and a small reserve file that
is given back when the disk is full, so the terminal record can still be written."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from kohya_wrap.errors import EXIT_FAILED, KohyaWrapError
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.causes import hint
from kohya_wrap.runner.disk import write_failure
from kohya_wrap.runner.resume import job_hint

EventSink = Callable[[dict], None]

MAX_LINE = 1 << 20  # bytes of one output line the parser sees; train.log keeps the whole line
RESERVE_BYTES = 512 << 10  # room kept back for summary.json, registry.json and the last events
RESERVE_NAME = ".kohya-wrap-reserve"
TAIL_BYTES = 64 << 10
# What a trainer prints when its own write failed (Python's OSError, safetensors' Rust error text).
DISK_FULL_TEXT = (b"No space left on device", b"[Errno 28]", b"StorageFull", b"Disk quota exceeded")
READ_ONLY_TEXT = (b"Read-only file system", b"[Errno 30]", b"ReadOnlyFilesystem")


class LineBound:
    """Passes at most LIMIT bytes of each output line (\\n or \\r ends a line) on to the parser, in time linear
    in the output: 300 MB without a newline cost one pass, not a copy per chunk."""

    def __init__(self, limit: int = MAX_LINE):
        self.limit = limit
        self.length = 0  # bytes of the current line passed on so far
        self.dropped = 0

    def cut(self, chunk: bytes) -> bytes:
        if len(chunk) > self.limit:  # pieces no longer than the limit keep every inner line short
            return b"".join(self.cut(chunk[i:i + self.limit]) for i in range(0, len(chunk), self.limit))
        first = _first_break(chunk)
        room = max(self.limit - self.length, 0)
        if first < 0:
            keep = min(len(chunk), room)
            self.length += keep
            self.dropped += len(chunk) - keep
            return chunk if keep == len(chunk) else chunk[:keep]
        keep = min(first, room)
        self.dropped += first - keep
        self.length = len(chunk) - 1 - max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        return chunk if keep == first else chunk[:keep] + chunk[first:]


def _first_break(chunk: bytes) -> int:
    found = [index for index in (chunk.find(b"\n"), chunk.find(b"\r")) if index >= 0]
    return min(found) if found else -1


class RawLog:
    """train.log, appended raw; after a failed write it writes nothing more and keeps the error."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "ab", buffering=0)
        self.failure: OSError | None = None
        self.tail = bytearray()  # the last output, kept in memory for the diagnosis when the log is gone

    def write(self, chunk: bytes) -> None:
        self.tail += chunk
        del self.tail[:-TAIL_BYTES]
        if self.failure is not None:
            return
        try:
            self._handle.write(chunk)
        except OSError as error:
            if write_failure(error, Path(self._handle.name).parent) is None:
                raise
            self.failure = error

    def close(self) -> None:
        try:
            self._handle.close()
        except OSError as error:
            self.failure = self.failure or error


class Reserve:
    """A file of RESERVE_BYTES in the job folder, removed when the disk is full to make room for the record."""

    def __init__(self, job_dir: Path):
        self.path = Path(job_dir) / RESERVE_NAME
        try:
            with open(self.path, "wb") as handle:
                handle.write(b"\0" * RESERVE_BYTES)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def disk_text_cause(tail: bytes) -> str | None:
    """disk_full / read_only when the trainer's own output says its write failed for that reason."""
    if any(text in tail for text in DISK_FULL_TEXT):
        return "disk_full"
    if any(text in tail for text in READ_ONLY_TEXT):
        return "read_only"
    return None


class EventLog:
    """Appends events to events.jsonl as they happen and fans them out to sinks. A write the disk refuses
    stops the writing, not the run: the events stay in memory and `retry()` writes the rest later (after
    cutting off a line the failed write left half-written)."""

    def __init__(self, job_dir: Path, sinks: list[EventSink]):
        self.path = job_dir / jobfolder.EVENTS
        self.sinks = sinks
        self.events: list[dict] = []
        self.written = 0
        self.failure: OSError | None = None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._size = os.fstat(self._fd).st_size  # bytes of whole lines

    def emit(self, event: dict) -> dict:
        if isinstance(event.get("hint"), str):  # the causes table says JOB where this job's id belongs
            event = {**event, "hint": job_hint(event["hint"], self.path.parent.name)}
        self.events.append(event)
        if self.failure is None:
            self._write()
        for sink in self.sinks:
            sink(event)
        return event

    def _write(self) -> None:
        data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in self.events[self.written:]).encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as error:
            if write_failure(error, self.path.parent) is None:
                raise
            self.failure = error
            return
        self._size += len(data)
        self.written = len(self.events)

    def retry(self) -> None:
        """Write the events a full disk held back (once the reserve made room)."""
        if self.failure is None:
            return
        self.failure = None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as error:
            self.failure = error
            return
        self._write()

    def close(self) -> None:
        os.close(self._fd)


def open_record(job_dir: Path, sinks: list[EventSink]) -> tuple[Reserve, EventLog]:
    """The reserve and events.jsonl, before anything launches: a full or read-only folder stops here."""
    try:
        reserve = Reserve(job_dir)
    except OSError as error:
        refuse(error, job_dir)
    try:
        return reserve, EventLog(job_dir, sinks)
    except OSError as error:
        reserve.release()
        refuse(error, job_dir)


def refuse(error: OSError, job_dir: Path):
    failure = write_failure(error, job_dir)
    if failure is None:
        raise error
    raise DiskProblem(failure[0], f"Cannot start the run: {failure[1]}.")


class DiskProblem(KohyaWrapError):
    """The job folder cannot be written (disk full, read-only): nothing was launched."""

    exit_code = EXIT_FAILED

    def __init__(self, cause: str, message: str):
        super().__init__(message, hint=hint(cause))
        self.cause = cause

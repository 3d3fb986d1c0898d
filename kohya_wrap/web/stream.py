"""Server-Sent Events over a job's events.jsonl: every line from a byte offset on, then the new ones as the
worker writes them. Each message's id is the byte offset after its line, so a reconnecting browser
(Last-Event-ID) resumes exactly where it left off."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

READ_CHUNK = 1024 * 1024  # a long events.jsonl is replayed in pieces, never read whole into memory
DONE_CHECK_S = 1.0


def start_offset(last_event_id: str | None, offset: str | None) -> int:
    """Where a client resumes: its Last-Event-ID header, else ?offset=, else the start of the file."""
    for value in (last_event_id, offset):
        if value is not None and value.strip():
            try:
                return max(0, int(value.strip()))
            except ValueError:
                return 0
    return 0


class Tail:
    """Reads complete lines appended to a file since the last call; notices a file replaced under it."""

    def __init__(self, path: Path, offset: int = 0):
        self.path, self.offset = path, offset
        self.inode: int | None = None

    def read(self) -> tuple[bool, list[tuple[str, int]]]:
        """(the file was replaced or shortened: start again from 0, [(line, offset after it), ...])."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False, []
        reset = (self.inode is not None and st.st_ino != self.inode) or st.st_size < self.offset
        self.inode = st.st_ino
        if reset:
            self.offset = 0
        if st.st_size == self.offset:
            return reset, []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(min(READ_CHUNK, st.st_size - self.offset))
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for its newline
        lines = []
        for raw in complete.split(b"\n")[:-1]:
            self.offset += len(raw) + 1
            text = raw.decode("utf-8", "replace").strip()
            if text:
                lines.append((text, self.offset))
        return reset, lines


async def event_stream(path: Path, offset: int, finished: Callable[[], Awaitable[str | None]],
                       poll_s: float = 0.1) -> AsyncIterator[dict]:
    """SSE messages for every line of the file; an `end` message (then the stream closes) once `finished`
    names a final status and every line has been sent."""
    tail = Tail(path, offset)
    last_check = 0.0
    while True:
        reset, lines = tail.read()
        if reset:
            yield {"event": "reset", "id": "0", "data": json.dumps({"reason": "events.jsonl was replaced "
                                                                              "(the job was put back in the queue)"})}
        for line, end in lines:
            yield {"event": "message", "id": str(end), "data": line}
        if lines:
            continue  # more may be waiting: read on before sleeping
        now = time.monotonic()
        if now - last_check >= DONE_CHECK_S:
            last_check = now
            status = await finished()
            if status is not None:
                _, lines = tail.read()
                for line, end in lines:
                    yield {"event": "message", "id": str(end), "data": line}
                if not lines:
                    yield {"event": "end", "id": str(tail.offset), "data": json.dumps({"status": status})}
                    return
                continue
        await asyncio.sleep(poll_s)

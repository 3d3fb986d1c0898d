"""Tail a growing file (a live train.log): yield new bytes as they are written, until told to stop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator


def follow(path: Path, poll: float = 0.2, stop: Callable[[], bool] | None = None, *,
           start: int = 0, chunk_size: int = 1 << 16, sleep: Callable[[float], None] = time.sleep) -> Iterator[bytes]:
    """Yield the file's bytes from `start` on, then what is appended, polling every `poll` seconds.

    Waits for the file to appear. Ends once stop() is true and everything written so far was yielded (so the
    last bytes are never lost). A file that shrinks (rewritten) is read again from its beginning.
    """
    path = Path(path)
    position = start
    while True:
        stopping = stop() if stop is not None else False  # asked before reading: bytes written before it count
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = None
        if size is not None:
            if size < position:
                position = 0
            if size > position:
                with path.open("rb") as handle:
                    handle.seek(position)
                    while data := handle.read(chunk_size):
                        position += len(data)
                        yield data
                continue
        if stopping:
            return
        sleep(poll)

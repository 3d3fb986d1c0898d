"""The last lines of a train.log as a person reads them: colours dropped, each progress bar at its last redraw."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from kohya_wrap.logs.stream import Splitter

TAIL_LINES = 30
READ_BYTES = 256 * 1024  # the end of the file is enough for 30 lines, even with many redraws between them
ECHO = "subprocess.CalledProcessError: "
MAX_LINE = 400  # characters kept of one line (the launcher's echo repeats the whole command line)


def clean_lines(text: str) -> list[str]:
    """Text lines and progress bars in order; consecutive redraws of one bar collapse to the last."""
    lines: list[str] = []
    last_bar: list[tuple | None] = [None]  # (desc, total) of the bar that the last line shows

    def on_text(line: str) -> None:
        lines.append(line.rstrip())
        last_bar[0] = None

    def on_bar(match: re.Match) -> None:
        key = (match["desc"], match["total"])
        if last_bar[0] == key and lines:
            lines[-1] = match.group(0)
        else:
            lines.append(match.group(0))
        last_bar[0] = key

    splitter = Splitter(on_text, on_bar)
    splitter.feed(text)
    splitter.end()
    return lines


def without_launcher_echo(lines: list[str]) -> list[str]:
    """The log without accelerate's closing traceback, which only repeats that the trainer failed."""
    start = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Traceback (most recent")), None)
    if start is None or not any(line.startswith(ECHO) for line in lines[start:]):
        return lines
    status = re.search(r"(returned non-zero exit status -?\d+|died with <Signals\.\w+)", "\n".join(lines[start:]))
    note = f"[accelerate's CalledProcessError traceback left out: {status[1] if status else 'the trainer failed'}]"
    return lines[:start] + [note]


def tail_of_text(text: str, count: int = TAIL_LINES) -> list[str]:
    lines = clean_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()
    lines = without_launcher_echo(lines)
    kept = [line if len(line) <= MAX_LINE else line[:MAX_LINE] + " …" for line in lines[-count:]]
    while kept and not kept[0].strip():
        kept.pop(0)
    return kept


def log_tail(path: Path, count: int = TAIL_LINES) -> list[str] | None:
    """The last `count` cleaned lines of a log file; None when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        start = max(0, size - READ_BYTES)
        handle.seek(start)
        data = handle.read()
    if start:
        data = data[data.find(b"\n") + 1:] if b"\n" in data else data  # from the first whole line
    return tail_of_text(codecs.decode(data, "utf-8", "replace"), count)

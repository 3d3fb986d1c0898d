"""Rebuild rich logging records (time | level | message | file.py:line, wrapped to the console width)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

LEVELS = "DEBUG|INFO|WARNING|ERROR|CRITICAL"
# The time column is 19 wide and blank when the second has not changed; a tqdm redraw may leave 1-3 spaces before.
RECORD_RE = re.compile(rf"(?P<pad> {{0,3}})(?:(?P<ts>\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d)| {{19}}) (?P<level>{LEVELS}) ")
SOURCE_RE = re.compile(r" (?P<src>[\w.<>-]+:\d+)$")
MESSAGE_COLUMN = 29  # 19 (time) + 1 + 8 (level) + 1
INDENT = " " * MESSAGE_COLUMN


def cell_len(text: str) -> int:
    """Terminal cells: East Asian wide and full-width characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@dataclass
class Record:
    ts: str | None
    level: str
    source: str | None
    width: int  # cells of the message column
    lines: list[str] = field(default_factory=list)

    def message(self) -> str:
        """Join the wrapped lines back: a word folded across lines joins without a space, wrapped words with one,
        and an indented line is a line break of the message itself (e.g. the dataset dump)."""
        text = self.lines[0] if self.lines else ""
        previous = text
        for line in self.lines[1:]:
            if not line or line[0] == " ":
                text += "\n" + line
            elif " " not in previous.strip() and cell_len(previous) >= self.width - 1 and previous.strip():
                text += line  # rich folds a word longer than the column: no space was there
            else:
                text += (" " if text and not text.endswith("\n") else "") + line
            previous = line
        return text


class RecordJoiner:
    """Feed text lines; a complete record goes to on_record once a line that does not continue it arrives."""

    def __init__(self, on_record: Callable[[Record], None]):
        self._on_record = on_record
        self._open: Record | None = None

    def take(self, line: str) -> bool:
        """True when the line belongs to a rich record (so it is handled here)."""
        if self._open is not None:
            if line.startswith(INDENT):
                self._open.lines.append(line[MESSAGE_COLUMN:].rstrip())
                return True
            self.flush()
        match = RECORD_RE.match(line)
        if match is None:
            return False
        self._open = _start(match, line)
        return True

    def flush(self) -> None:
        record, self._open = self._open, None
        if record is not None:
            self._on_record(record)


def _start(match: re.Match, line: str) -> Record:
    pad = len(match["pad"])
    line = line.rstrip("\n")
    stripped = line.rstrip()
    source_match = SOURCE_RE.search(stripped)
    source = source_match["src"] if source_match else None
    body = stripped[pad + MESSAGE_COLUMN:]
    if source and body.endswith(source):
        body = body[: -len(source)]
    console = cell_len(line) - pad
    width = console - MESSAGE_COLUMN - (len(source) + 1 if source else 0)
    return Record(match["ts"], match["level"], source, width, [body.rstrip()])

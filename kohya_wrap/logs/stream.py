"""Split a terminal byte stream into text lines and tqdm redraws (\\r redraws, ESC[A cursor moves, shared lines)."""

from __future__ import annotations

import math
import re
from typing import Callable

# tqdm's default layout: "{desc}: {pct:3.0f}%|{bar}| {n}/{total} [{elapsed}<{remaining}, {rate}{unit}{postfix}]"
BAR_RE = re.compile(
    r"(?:(?P<desc>[^\r\n|]*?): )?(?P<pct>[ \d]{2}\d)%\|[^|\r\n]*\| (?P<n>\d+)/(?P<total>\d+)"
    r" \[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:]+|\?), *(?P<rate>[\d.]+|\?)(?P<unit>[^,\]\s]*)"
    r"(?:, (?P<postfix>[^\]\r\n]*))?\]"
)
SGR_RE = re.compile(r"\x1b\[[0-9;]*m|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")  # colours and links (OSC): dropped
CSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[@-Z\\-_]")  # cursor moves etc.: a break in the text


def interval_s(text: str | None) -> int | None:
    """tqdm's "MM:SS" / "H:MM:SS" as seconds; None for "?"."""
    if not text or text == "?":
        return None
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def bar_values(match: re.Match) -> dict:
    """The numbers of one tqdm redraw: n, total, elapsed_s, eta_s, it_s or s_per_it, and the postfix pairs."""
    values: dict = {"n": int(match["n"]), "total": int(match["total"]),
                    "elapsed_s": interval_s(match["elapsed"]), "eta_s": interval_s(match["remaining"])}
    if match["rate"] != "?":
        rate = float(match["rate"])
        values["s_per_it" if match["unit"].startswith("s/") else "it_s"] = rate
    postfix = {}
    for pair in (match["postfix"] or "").split(", "):
        key, sep, value = pair.partition("=")
        if sep:
            postfix[key.strip()] = _number(value.strip())
    values["postfix"] = postfix
    return values


def nonfinite_keys(postfix: dict) -> list[str]:
    return [k for k, v in postfix.items() if isinstance(v, float) and not math.isfinite(v)]


class Splitter:
    """Incremental: text in, calls on_text(line) for each text line and on_bar(match) for each tqdm redraw.

    A redraw is reported as soon as it is complete (its closing "]"), not when the next \\r arrives, so a live
    reader sees each step at once. Text after a redraw on the same physical line starts a new text line.
    """

    def __init__(self, on_text: Callable[[str], None], on_bar: Callable[[re.Match], None]):
        self._on_text = on_text
        self._on_bar = on_bar
        self._tail = ""  # text of the current physical line not handled yet
        self._cr = False  # the tail starts right after a \r (so it may be a redraw)
        self.mid_line = False  # the stream so far ends inside a line (no \n after the last text)
        self._started = False  # part of the current line was handled before its \n arrived

    def feed(self, text: str) -> None:
        if not text:
            return
        buf = self._tail + text
        if "\n" in text:
            lines = buf.split("\n")
            buf = lines.pop()
            if lines[0] or not self._started:  # else the line's text was all handled already, as it came
                self._line(lines[0], self._cr)
            on_text = self._on_text
            for line in lines[1:]:
                if "\r" in line or "\x1b" in line or "%|" in line:  # a redraw alone on its line: \r made \n
                    self._line(line, False)
                else:
                    on_text(line)  # the common case, without the call to _line
            self._cr = self._started = False
        self.mid_line = bool(buf)
        self._tail = self._live(buf)

    def end(self) -> bool:
        """The stream is over: handle what is left. Returns True when it stopped in the middle of a line."""
        if self._tail:
            self._line(self._tail, self._cr)
        self._tail, self._cr, self._started = "", False, False
        ended_mid_line, self.mid_line = self.mid_line, False
        return ended_mid_line

    def _line(self, line: str, cr: bool) -> None:
        if not cr and "\r" not in line and "\x1b" not in line and "%|" not in line:
            self._on_text(line)
            return
        parts = line.split("\r")
        if not cr:
            head = parts.pop(0)
            if head.strip() or not parts:
                self._piece(head, False)
        for part in parts:
            self._piece(part, True)

    def _piece(self, text: str, cr: bool) -> None:
        if "\x1b" in text:
            text = SGR_RE.sub("", text)
            pieces = CSI_RE.split(text)
            if len(pieces) > 1:
                for index, piece in enumerate(pieces):
                    if piece.strip():
                        self._segment(piece, cr and index == 0)
                return
        if cr and not text.strip():
            return  # a \r followed by blanks: tqdm clearing its line
        self._segment(text, cr)

    def _segment(self, text: str, cr: bool) -> None:
        match = BAR_RE.match(text) if cr or "%|" in text else None
        if match is None:
            self._on_text(text)
            return
        self._on_bar(match)
        rest = text[match.end():]
        if rest.strip():
            self._on_text(rest)

    def _live(self, buf: str) -> str:
        """Handle the complete redraws of an unfinished line now; return what must wait for more text."""
        if "\r" not in buf and not (self._cr and buf.endswith("]")):
            return buf
        parts = buf.split("\r")
        last = parts.pop()
        if parts:
            self._started = True
            if self._cr:
                self._piece(parts[0], True)
            elif parts[0].strip():
                self._piece(parts[0], False)
            for part in parts[1:]:
                self._piece(part, True)
            self._cr = True
        if self._cr:
            match = BAR_RE.match(last)
            if match is not None:
                self._on_bar(match)
                self._cr, self._started = False, True
                return last[match.end():]
        return last

"""The trainer's own exceptions in a log: tracebacks read line by line, their frames, English halves and paths."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FRAME_RE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+?)\s*$')
EXCEPTION_RE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
TRACEBACK = "Traceback (most recent call last):"
WORKER_TRACEBACK = "Original Traceback (most recent call last):"  # torch's DataLoader quotes its worker's
CHAINS = {"During handling of the above exception": "context", "The above exception was the direct cause": "cause"}
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
THIRD_PARTY = re.compile(r"[\\/](?:site|dist)-packages[\\/]|^<frozen |[\\/]lib[\\/]python\d[\d.]*[\\/]|[\\/]Lib[\\/]")
SD_SCRIPTS_HINT = re.compile(r"(?:^|[\\/])(?:library|networks)[\\/][^\\/]+\.py$|(?:^|[\\/])\w*train\w*\.py$")
# a path: absolute POSIX or Windows, or ~/..., possibly quoted; the quote is not part of it
PATH_RE = re.compile(r"""(?P<q>['"])(?P<quoted>(?:[A-Za-z]:[\\/]|[\\/]|~[\\/]|\.{1,2}[\\/])[^'"\n]+?)(?P=q)"""
                     r"""|(?P<bare>(?<![\w.])(?:[A-Za-z]:\\|/|~/)[^\s'",;()\[\]{}]+[^\s'",;()\[\]{}.:])""")
URL_RE = re.compile(r"\w+://\S+")


@dataclass
class Frame:
    file: str
    line: int
    function: str
    code: str | None = None


@dataclass
class RaisedError:
    """One exception of a traceback: its type, first message line, frames, and how it follows the one before."""

    type: str
    message: str
    frames: list[Frame] = field(default_factory=list)
    chained: str | None = None  # "context", "cause" or "worker" (the DataLoader worker's original traceback)

    @property
    def text(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    @property
    def english(self) -> str:
        return english_half(self.message)


class TracebackReader:
    """Reads one printed traceback with its chained ones; `take(line)` is False at the first line after it."""

    def __init__(self):
        self.chain: list[RaisedError] = []
        self._frames: list[Frame] = []
        self._state = "frames"
        self._relation: str | None = None

    def take(self, line: str) -> bool:
        if self._state == "frames":
            return self._frame_line(line)
        stripped = line.strip()
        if not stripped:
            return True
        for start, relation in CHAINS.items():
            if line.startswith(start):
                self._relation = relation
                return True
        worker = stripped.startswith(WORKER_TRACEBACK)
        if worker or line.startswith(TRACEBACK) and self._relation is not None:  # else another process's own
            self._relation = "worker" if worker else self._relation
            self._frames, self._state = [], "frames"
            return True
        return False

    def _frame_line(self, line: str) -> bool:
        match = FRAME_RE.match(line)
        if match:
            self._frames.append(Frame(match["file"], int(match["line"]), match["function"]))
            return True
        if not line or line[0] in " \t^~" or line.startswith("[Previous line repeated"):
            if self._frames and line.strip() and self._frames[-1].code is None and not set(line.strip()) <= set("^~"):
                self._frames[-1].code = line.strip()
            return True
        match = EXCEPTION_RE.match(line.strip()) or EXCEPTION_RE.match(line.split(":", 1)[0])
        name = match["type"] if match else line.split(":", 1)[0].strip()
        message = (match["message"] if match and match["message"] is not None else line.partition(":")[2]).strip()
        self.chain.append(RaisedError(name, message, self._frames, self._relation))
        self._frames, self._state, self._relation = [], "after", None
        return True


def english_half(message: str) -> str:
    """The English half of sd-scripts' bilingual messages: "English / 日本語: value" on one line, or an English
    line followed by a Japanese one."""
    lines = [_english_half_line(line) for line in message.split("\n")]
    english_lines = [line for line in lines if not CJK.search(line)]
    return " ".join(line.strip() for line in english_lines if line.strip()) if english_lines else lines[0]


def _english_half_line(message: str) -> str:
    """The English half of sd-scripts' bilingual "English / 日本語: value" messages (the value kept)."""
    for match in re.finditer(r" / ", message):
        rest = message[match.end():]
        if CJK.search(rest[:40]):
            head = message[:match.start()].rstrip()
            tail = re.search(r"[:：]\s*([^:：]*)$", rest)
            if tail and tail[1].strip() and not CJK.search(tail[1]) and tail[1].strip() not in head:
                head += ": " + tail[1].strip()
            return head
    return message


def named_paths(text: str) -> list[str]:
    """File or folder paths a message names, in order (URLs left out)."""
    text = URL_RE.sub(" ", text)
    found = []
    for match in PATH_RE.finditer(text):
        path = (match["quoted"] or match["bare"]).rstrip()
        if path and path not in found and len(path) > 1:
            found.append(path)
    return found


def is_third_party(file: str) -> bool:
    return bool(THIRD_PARTY.search(file))


def sd_scripts_root(chain: list[RaisedError]) -> str | None:
    """The folder of the entry script (the first frame that is a top-level script), as the traceback shows it."""
    for error in chain:
        for frame in error.frames[:1]:
            if frame.function == "<module>" and frame.file.endswith(".py") and not is_third_party(frame.file):
                return re.split(r"[\\/][^\\/]+$", frame.file)[0]
    return None


def trainer_frames(error: RaisedError, root: str | None) -> list[Frame]:
    """Frames inside sd-scripts, innermost first: under the entry script's folder, not in an installed package."""
    def inside(frame: Frame) -> bool:
        if is_third_party(frame.file):
            return False
        if root is not None:
            return frame.file.startswith(root) and frame.file[len(root):][:1] in ("/", "\\")
        return bool(SD_SCRIPTS_HINT.search(frame.file))  # a worker's traceback, or a log cut at the start
    return [frame for frame in reversed(error.frames) if inside(frame)]


def relative(file: str, root: str | None) -> str:
    """A frame's file relative to sd-scripts (library/train_util.py); the last two parts when the root is unknown."""
    if root and file.startswith(root):
        return file[len(root):].lstrip("\\/").replace("\\", "/")
    parts = re.split(r"[\\/]", file)
    return "/".join(parts[-2:]) if len(parts) > 1 and parts[-2] in ("library", "networks") else parts[-1]


def raised_in_torch(error: RaisedError) -> bool:
    """The innermost frame is in torch itself (a tensor op failed), not in I/O or sd-scripts' own checks."""
    return bool(error.frames) and bool(re.search(r"[\\/]torch[\\/]", error.frames[-1].file))


def is_launcher_echo(error: RaisedError) -> bool:
    """accelerate's (or torchrun's) CalledProcessError that repeats every failure of the trainer it launched."""
    return error.type in ("subprocess.CalledProcessError", "CalledProcessError") or error.type.endswith("ChildFailedError")


def exit_of_echo(error: RaisedError) -> tuple[int | None, str | None]:
    """(exit status, signal name) the launcher's echo reports."""
    status = re.search(r"exit status (-?\d+)", error.message)
    signal = re.search(r"died with <Signals\.(\w+): \d+>", error.message)
    return (int(status[1]) if status else None), (signal[1] if signal else None)

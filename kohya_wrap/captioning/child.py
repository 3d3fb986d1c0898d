"""Start the captioning child in the chosen Python (argv list, own session) and stream its JSON-line events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.backend.locate import backend_python
from kohya_wrap.backend.platform import script_argv
from kohya_wrap.errors import BackendError

CHILD_SCRIPT = Path(__file__).with_name("_caption_child.py")
PACKAGE_DIR = Path(__file__).resolve().parent
ENV_PYTHON = "KOHYA_WRAP_CAPTION_PYTHON"


def caption_python(explicit: str | None = None) -> str:
    """--python, then KOHYA_WRAP_CAPTION_PYTHON, then the backend's Python (KOHYA_WRAP_PYTHON / registered)."""
    return explicit or os.environ.get(ENV_PYTHON) or backend_python()


def child_argv(python: str) -> list[str]:
    return script_argv(python, CHILD_SCRIPT, [str(PACKAGE_DIR)])


@dataclass
class ChildOutcome:
    returncode: int | None
    error: dict | None = None  # the child's error event, if it sent one
    finished: bool = False
    stderr_tail: list[str] = field(default_factory=list)
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.finished and self.error is None


def run_child(python: str, job: dict, log_path: Path, on_event) -> ChildOutcome:
    """Run one job to its end, calling on_event(event) per line; the child is stopped if we are interrupted."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(child_argv(python), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                       start_new_session=True)
        except OSError as error:
            raise BackendError(f"Cannot start the captioning Python {python}: {error.strerror or error}",
                               hint="pass --python PATH, set KOHYA_WRAP_CAPTION_PYTHON, or configure the "
                                    "backend (`kohya-wrap backend use PATH --python PYTHON`)") from None
        outcome = ChildOutcome(None, log=log_path)
        try:
            _send_job(process, job)
            for raw in process.stdout:
                event = _parse(raw, log)
                if event is None:
                    continue
                if event.get("type") == "error":
                    outcome.error = event
                elif event.get("type") == "finished":
                    outcome.finished = True
                on_event(event)
            outcome.returncode = process.wait()
        finally:
            _stop(process)
    outcome.stderr_tail = _tail(log_path)
    return outcome


def _send_job(process: subprocess.Popen, job: dict) -> None:
    try:
        process.stdin.write(json.dumps(job).encode("utf-8"))
        process.stdin.close()
    except BrokenPipeError:  # the child died at start-up; its stderr in the log says why
        pass


def _parse(raw: bytes, log) -> dict | None:
    try:
        event = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.write(b"[stdout] " + raw)  # not ours: kept in the log instead of lost
        return None
    return event if isinstance(event, dict) else None


def _stop(process: subprocess.Popen) -> None:
    """Ends a child still running (we were interrupted): SIGTERM to its group, then SIGKILL."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int = 8) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]

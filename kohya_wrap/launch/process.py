"""Start the trainer in its own process group, stream its raw output, stop the group with escalation."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kohya_wrap.launch.spec import LaunchSpec

ESCALATION = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def _child_setup() -> None:
    # A trainer started from a non-interactive shell inherits SIGINT as ignored; Ctrl-C must work.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start(spec: LaunchSpec, base_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the child as the leader of a new session/process group, stdout and stderr merged."""
    env = dict(os.environ if base_env is None else base_env)
    env.update(spec.env)
    return subprocess.Popen(spec.argv, cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_child_setup)


class OutputPump:
    """Reads the child's pipe on a thread, so the caller can wait on chunks with a timeout."""

    def __init__(self, stream):
        self._chunks: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        fd = stream.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._chunks.put(chunk)
        self._chunks.put(None)

    def get(self, timeout: float) -> bytes | None | bool:
        """A chunk, None at end of output, or False when nothing came within TIMEOUT."""
        try:
            return self._chunks.get(timeout=timeout)
        except queue.Empty:
            return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@dataclass
class StopResult:
    """Which signals a stop needed, and whether the group was gone at the end."""

    signals: list[str]
    stopped: bool


def stop_group(pgid: int, grace_s: float, is_done=None, escalation=ESCALATION, poll_s: float = 0.1,
               sent: list[str] | None = None) -> StopResult:
    """SIGINT the group, wait GRACE_S, then SIGTERM, wait, then SIGKILL; IS_DONE() tells when the leader ended.

    SENT (if given) receives each signal's name as it is sent, so a watcher sees the escalation live.
    """
    finished = is_done or (lambda: not group_alive(pgid))
    sent = [] if sent is None else sent
    for signum in escalation:
        if finished():
            break
        try:
            os.killpg(pgid, signum)
        except ProcessLookupError:
            break
        sent.append(signal.Signals(signum).name)
        deadline = time.monotonic() + (grace_s if signum != signal.SIGKILL else 10.0)
        while time.monotonic() < deadline and not finished():
            time.sleep(poll_s)
    return StopResult(signals=sent, stopped=finished())


def kill_leftovers(pgid: int) -> bool:
    """After the leader exits, make sure no process of its group survives (no orphans)."""
    if not group_alive(pgid):
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def append_raw(log_path: Path):
    """Open train.log for appending raw bytes exactly as the child wrote them."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return open(log_path, "ab", buffering=0)

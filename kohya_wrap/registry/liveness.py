"""Is a job's supervising process still there? Decides when a 'running' row is really lost."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Callable

HEARTBEAT_S = 30.0
STALE_S = 300.0  # a row from another host with no heartbeat for this long is lost


def this_host() -> str:
    return socket.gethostname()


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    return stat[stat.rindex(")") + 2:].split()


def pid_start_token(pid: int) -> str | None:
    """The process start time in clock ticks (/proc/PID/stat field 22), None where unknown."""
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def pid_alive(pid: int, start_token: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):  # exited, not yet reaped by its parent
        return False
    # A different start time means the pid was reused by an unrelated process.
    return start_token is None or fields[19] == start_token


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lost_cause(
    row: dict,
    *,
    host: str,
    now: float,
    alive: Callable[[int, str | None], bool] = pid_alive,
    group: Callable[[int], bool] = group_alive,
) -> str | None:
    """Why a 'running' row is lost, or None while its supervisor may still be working."""
    if row.get("host") and row["host"] != host:
        beat = row.get("heartbeat_at") or row.get("started_at")
        if beat is None or now - beat <= STALE_S:
            return None
        return f"no heartbeat from host {row['host']} for {int(now - beat)} s"
    pid = row.get("pid")
    if pid is None or alive(int(pid), row.get("pid_start")):
        return None
    cause = f"supervising process {pid} is gone (killed, crashed, or the machine restarted)"
    pgid = row.get("pgid")
    if pgid and group(int(pgid)):
        cause += f"; trainer process group {pgid} is still running: kohya-wrap jobs stop {row['id']}"
    return cause

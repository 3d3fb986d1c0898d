"""Running rows whose supervisor is gone: lost, or back in the queue when their trainer never started; lost
rows kept current (a finished folder's record wins, a stale cause is refreshed). This runs on every look
(`jobs ls`), so a write it cannot make (full disk, read-only registry) never fails the look."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import sqlalchemy as sa

from kohya_wrap.job.folder import EVENTS, SUMMARY, read_events, read_json
from kohya_wrap.job.meta import update_meta
from kohya_wrap.registry import liveness, schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.registry.schema import RegistryError

log = logging.getLogger(__name__)
jobs_t = schema.training_jobs
MAX_AUTO_REQUEUES = 3  # a job that takes its worker down before it starts is not requeued for ever
QUIET = (sa.exc.DBAPIError, RegistryError, OSError, ValueError)


def refresh(registry: Registry, rows: list[dict], now: float | None = None) -> list[dict]:
    """Update ROWS in place (and in the registry and registry.json where that can be written)."""
    now = time.time() if now is None else now
    host = liveness.this_host()
    for row in rows:
        if row["status"] == schema.RUNNING:
            cause = liveness.lost_cause(row, host=host, now=now)
            if cause is not None:
                _gone(registry, row, cause, now)
        elif row["status"] == schema.LOST and row.get("host") in (None, host):
            _recheck(registry, row, host, now)
    return rows


def never_started(row: dict) -> bool:
    """A job a worker claimed whose trainer never started: nothing of it ran, so it can simply run again."""
    if not row.get("worker") or row.get("started_at") or row.get("pgid"):
        return False
    try:
        events = read_events(Path(row["job_dir"])) if (Path(row["job_dir"]) / EVENTS).is_file() else []
    except QUIET:
        return False
    return not any(event.get("type") == "started" for event in events)


def _gone(registry: Registry, row: dict, cause: str, now: float, *, was: str = schema.RUNNING) -> None:
    if never_started(row) and int(row.get("attempts") or 0) <= MAX_AUTO_REQUEUES:
        values = {"status": schema.QUEUED, "cause": f"requeued: {cause}, before its trainer started",
                  "worker": None, "pid": None, "pid_start": None, "host": None, "gpu": None, "heartbeat_at": None}
        meta = {"queue": {"state": "queued", "attempts": int(row.get("attempts") or 0)},
                "supervisor": None, "lost": None, "outcome": None}
    else:
        if never_started(row):
            cause += f" (claimed {row.get('attempts')} times without starting: not requeued again)"
        values, meta = {"status": schema.LOST, "cause": cause}, {"lost": {"cause": cause, "t": now}}
    changed = _quietly(lambda conn: conn.execute(
        jobs_t.update().where(jobs_t.c.id == row["id"], jobs_t.c.status == was,
                              jobs_t.c.pid.is_not_distinct_from(row["pid"])).values(values)).rowcount, registry)
    if changed == 0:
        return  # another look (or the supervisor itself) changed the row first
    if Path(row["job_dir"]).is_dir():
        _quietly(lambda _: update_meta(Path(row["job_dir"]), **meta))
    row.update(values)


def _recheck(registry: Registry, row: dict, host: str, now: float) -> None:
    job_dir = Path(row["job_dir"])
    if (job_dir / SUMMARY).is_file() and _quietly(lambda _: read_json(job_dir / SUMMARY).get("status")):
        from kohya_wrap.registry.jobs import register_folder

        fresh = _quietly(lambda _: register_folder(registry, job_dir, versions=False))
        if fresh:
            row.update(fresh)
        return
    cause = liveness.lost_cause({**row, "status": schema.RUNNING}, host=host, now=now)
    if never_started(row):
        _gone(registry, row, cause or "its supervisor is gone", now, was=schema.LOST)
    elif cause and cause != row.get("cause") and str(row.get("cause") or "").startswith("supervising process"):
        # e.g. "trainer process group N is still running" after that group ended
        if _quietly(lambda conn: conn.execute(jobs_t.update().where(jobs_t.c.id == row["id"],
                                                                    jobs_t.c.status == schema.LOST)
                                              .values(cause=cause)).rowcount, registry) is not None:
            row["cause"] = cause


def _quietly(action, registry: Registry | None = None):
    """ACTION(conn) in a write transaction (or ACTION(None)); None when the write could not be made."""
    try:
        if registry is None:
            return action(None)
        with registry.write() as conn:
            return action(conn)
    except QUIET as error:
        log.warning("could not record a refreshed job state (the look goes on): %s", error)
        return None

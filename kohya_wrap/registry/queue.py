"""The job queue: queued rows, claimed atomically by one worker each, put back on request."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.paths import READ_ONLY_ERRNOS
from kohya_wrap.registry import liveness, schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.job.folder import read as read_job_folder
from kohya_wrap.registry.jobs import get_job, register_folder
from kohya_wrap.registry.models import sync_versions
from kohya_wrap.job.meta import read_meta, update_meta

jobs_t = schema.training_jobs
# Files of one run attempt; a requeued job's attempt is moved aside so the next one starts clean.
OUTPUT = "output"
ATTEMPT_FILES = ("train.log", "events.jsonl", "summary.json", "report.html", "report.md", OUTPUT)


def enqueue(registry: Registry, job_dir: Path, *, priority: int = 0, now: float | None = None) -> dict:
    """Mark a prepared job folder as queued and register it."""
    queued_at = time.time() if now is None else now
    attempts = int(read_meta(job_dir).get("queue", {}).get("attempts", 0))
    update_meta(job_dir, queue={"state": "queued", "queued_at": queued_at, "priority": priority,
                                "attempts": attempts}, supervisor=None, lost=None, outcome=None)
    return register_folder(registry, job_dir, versions=False)


def _candidate(conn: Connection) -> str | None:
    query = (sa.select(jobs_t.c.id).where(jobs_t.c.status == schema.QUEUED)
             .order_by(jobs_t.c.priority.desc(), jobs_t.c.queued_at, jobs_t.c.id).limit(1))
    if conn.dialect.name == "postgresql":
        # Rows another worker is claiming right now are skipped, not waited for.
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).scalar()


def claim_next(registry: Registry, *, worker: str, gpu: str | None = None,
               now: float | None = None) -> dict | None:
    """Atomically take the next queued job for this process; None when the queue is empty."""
    pid = os.getpid()
    claim = {"status": schema.RUNNING, "worker": worker, "host": liveness.this_host(), "pid": pid,
             "pid_start": liveness.pid_start_token(pid), "gpu": gpu, "cause": None,
             "heartbeat_at": time.time() if now is None else now,
             "attempts": jobs_t.c.attempts + 1}
    with registry.write() as conn:
        job_id = _candidate(conn)
        if job_id is None:
            return None
        taken = conn.execute(jobs_t.update()
                             .where(jobs_t.c.id == job_id, jobs_t.c.status == schema.QUEUED)
                             .values(claim)).rowcount
        if taken != 1:  # cannot happen under the write lock / row lock; refuse rather than double-run
            raise KohyaWrapError(f"queue claim of {job_id} raced with another worker")
        row = dict(conn.execute(sa.select(jobs_t).where(jobs_t.c.id == job_id)).mappings().one())
    supervisor = {k: row[k] for k in ("host", "pid", "pid_start", "worker", "gpu")}
    try:
        update_meta(Path(row["job_dir"]), queue={"state": "claimed", "attempts": row["attempts"]},
                    supervisor=supervisor, lost=None, outcome=None)
    except (OSError, ValueError) as error:
        # The claim stands (one worker owns the job); the worker fails it with this problem and goes on.
        row["problem_cause"], row["problem"] = folder_problem(Path(row["job_dir"]), error)
    return row


def folder_problem(job_dir: Path, error: BaseException) -> tuple[str, str]:
    """(cause, what is wrong) with a queued job's folder, in one line."""
    if not job_dir.is_dir():
        return "damaged_job", f"its job folder {job_dir} is gone"
    if isinstance(error, ValueError):
        return "damaged_job", f"registry.json cannot be read ({error})"
    if getattr(error, "errno", None) in READ_ONLY_ERRNOS:
        return "read_only", f"its job folder {job_dir} cannot be written ({error.strerror})"
    return "damaged_job", f"its job folder cannot be written ({getattr(error, 'strerror', None) or error}: {job_dir})"


def free_attempt(job_dir: Path, attempt: int = 1) -> int:
    """The first attempts/<n> number from ATTEMPT on (at least 1) that no earlier attempt used."""
    number = max(attempt, 1)
    while (Path(job_dir) / "attempts" / str(number)).exists():
        number += 1
    return number


def archive_attempt(job_dir: Path, attempt: int, names: list[str] | None = None) -> Path | None:
    """Move the last attempt's files (by default all of them, its LoRAs and states in output/ too; else the
    NAMES given, relative to the job folder) to attempts/<n>/, a number no earlier attempt used, and re-key
    their registry.json entries: attempts never overwrite each other."""
    present = [name for name in (ATTEMPT_FILES if names is None else names) if (job_dir / name).exists()]
    if not present:
        return None
    number = free_attempt(job_dir, attempt)
    target = job_dir / "attempts" / str(number)
    target.mkdir(parents=True)
    for name in present:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(job_dir / name), str(target / name))
    moved = {path.name for path in (target / OUTPUT).glob("*.safetensors")}
    models = read_meta(job_dir).get("models") or {}
    if moved & set(models):
        rekeyed = {(f"attempts/{number}/{OUTPUT}/{key}" if key in moved else key): entry
                   for key, entry in models.items()}
        update_meta(job_dir, models=None)
        update_meta(job_dir, models=rekeyed)
    return target


def requeue(registry: Registry, job_id: str, *, reason: str = "requeued", resume: bool = True) -> dict:
    """Put a job back in the queue; the files of its last attempt move to attempts/<n>/. With RESUME the
    next attempt continues from the last saved state of an earlier attempt, when there is one."""
    row = get_job(registry, job_id, check=False)
    job_dir = Path(row["job_dir"])
    archive_attempt(job_dir, int(row.get("attempts") or 0))
    meta = read_meta(job_dir).get("queue", {})
    enqueue(registry, job_dir, priority=int(meta.get("priority", row.get("priority") or 0)),
            now=meta.get("queued_at") or row.get("queued_at"))
    update_meta(job_dir, queue={"resume": resume})
    sync_versions(registry, read_job_folder(job_dir))  # the archived LoRAs keep their versions at their new place
    with registry.write() as conn:
        conn.execute(jobs_t.update().where(jobs_t.c.id == row["id"]).values(cause=reason))
    return get_job(registry, row["id"], check=False)


def queued(registry: Registry) -> list[dict]:
    query = (sa.select(jobs_t).where(jobs_t.c.status == schema.QUEUED)
             .order_by(jobs_t.c.priority.desc(), jobs_t.c.queued_at, jobs_t.c.id))
    with registry.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def unqueue(registry: Registry, job_id: str) -> dict:
    """Take a queued job out of the queue (its folder stays, status 'prepared')."""
    row = get_job(registry, job_id, check=False)
    if row["status"] != schema.QUEUED:
        raise KohyaWrapError(f"Job {row['id']} is {row['status']}, not queued.",
                             hint="stop a running job with `kohya-wrap jobs stop`")
    with registry.write() as conn:
        gone = conn.execute(jobs_t.update().where(jobs_t.c.id == row["id"], jobs_t.c.status == schema.QUEUED)
                            .values(status=schema.PREPARED)).rowcount
    if not gone:
        raise KohyaWrapError(f"Job {row['id']} was claimed by a worker meanwhile.",
                             hint="stop it with `kohya-wrap jobs stop`")
    update_meta(Path(row["job_dir"]), queue=None)
    return {**row, "status": schema.PREPARED}

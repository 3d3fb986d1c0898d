"""What a worker does about jobs that cannot simply run: a damaged job fails with its cause (and the queue
goes on), a new attempt resumes from an earlier attempt's last state, lost jobs are retried by policy."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.meta import META_FILE, update_meta
from kohya_wrap.job.resume import ResumePoint, find_resume_point
from kohya_wrap.registry import liveness, schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.registry.jobs import list_jobs, update_job

log = logging.getLogger(__name__)
# Files whose damage means the job cannot be run as recorded (events or summary of an earlier try can be).
_NEEDED = (jobfolder.JOB_TOML, jobfolder.COMMAND, META_FILE)


def damage(job_dir: Path) -> str | None:
    """What makes this queued job's folder unusable, or None: gone, job.toml missing, or a file that
    cannot be read (job.toml, command.json, registry.json)."""
    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        return f"its job folder {job_dir} is gone"
    if not (job_dir / jobfolder.JOB_TOML).is_file():
        return f"{jobfolder.JOB_TOML} is missing from {job_dir}"
    problems = [p for p in jobfolder.read(job_dir).problems if p.split(":", 1)[0] in _NEEDED]
    return "; ".join(problems) or None


def fail_damaged(registry: Registry, row: dict, problem: str, kind: str = "damaged_job") -> str:
    """Fail a job whose folder is damaged (or read-only: KIND) with its cause: in the row, and in
    registry.json only when that file is sound (a damaged file is left as it is, for whoever repairs it).
    Returns the cause written."""
    cause = f"{kind}: {problem}"
    update_job(registry, row["id"], status="failed", cause=cause, ended_at=time.time(), heartbeat_at=None)
    job_dir = Path(row["job_dir"])
    if job_dir.is_dir() and not (META_FILE in problem):
        try:
            update_meta(job_dir, outcome={"status": "failed", "cause": cause, "ended_at": time.time()},
                        supervisor=None)
        except (OSError, ValueError) as error:  # the row holds the failure; `registry rebuild` names the folder
            log.warning("could not record the failure of %s in its folder: %s", row["id"], error)
    return cause


def resume_point(job_dir: Path) -> ResumePoint | None:
    """The last saved state of an earlier attempt (attempts/<n>/output), when this attempt is to resume."""
    folder = jobfolder.read(job_dir)
    if not (folder.meta.get("queue") or {}).get("resume"):
        return None
    points = []
    for output in sorted(Path(job_dir).glob("attempts/*/output")):
        try:
            points.append(find_resume_point(output))
        except KohyaWrapError:
            continue  # that attempt saved no state
    return max(points, key=lambda p: (p.step, p.state_dir.stat().st_mtime), default=None)


def sweep(registry: Registry, *, retry_lost: int = 0, worker: str = "") -> list[str]:
    """Look at running and lost jobs: a job claimed whose trainer never started goes back to the queue
    (registry.lost); with RETRY_LOST > 0 a job lost mid-run is retried (resuming from its last state) until
    it has had that many attempts. Returns the ids requeued by the policy."""
    rows = list_jobs(registry, statuses=[schema.RUNNING, schema.LOST])
    retried = []
    for row in rows:
        if row["status"] != schema.LOST or int(row.get("attempts") or 0) >= retry_lost:
            continue
        if row.get("pgid") and row.get("host") in (None, liveness.this_host()) \
                and liveness.group_alive(int(row["pgid"])):
            continue  # its trainer still runs: `jobs stop` first
        if _take(registry, row["id"]):
            from kohya_wrap.registry.queue import requeue

            requeue(registry, row["id"], reason=f"retried by {worker or 'a worker'} after it was lost "
                                                f"(retry policy: up to {retry_lost} attempts)")
            retried.append(row["id"])
    return retried


def _take(registry: Registry, job_id: str) -> bool:
    """One process wins the right to retry a lost job (workers on a shared registry look at the same rows)."""
    with registry.write() as conn:
        jobs_t = schema.training_jobs
        return conn.execute(jobs_t.update().where(jobs_t.c.id == job_id, jobs_t.c.status == schema.LOST)
                            .values(status=schema.PREPARED)).rowcount == 1

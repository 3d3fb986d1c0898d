"""Stop and remove jobs recorded in the registry (signals go to the trainer's process group)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.meta import update_meta
from kohya_wrap.launch.process import stop_group
from kohya_wrap.registry import liveness, schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.registry.jobs import delete_job, get_job, register_folder


def _mark(registry: Registry, row: dict, status: str, cause: str) -> dict:
    update_meta(Path(row["job_dir"]), outcome={"status": status, "cause": cause, "ended_at": time.time()})
    return register_folder(registry, Path(row["job_dir"]), versions=False)


def stop_job(registry: Registry, ref: str, *, grace_s: float = 30.0) -> dict:
    """Stop a running (or lost but still training) job, or cancel a queued one; the trainer's group gets
    SIGINT, then SIGTERM, then SIGKILL (launch.process.stop_group)."""
    row = get_job(registry, ref)
    if row["status"] == schema.QUEUED:
        return _mark(registry, row, "cancelled", "cancelled by the user before it started")
    pgid = row.get("pgid")
    trainer_alive = bool(pgid) and liveness.group_alive(int(pgid))
    if row["status"] not in (schema.RUNNING, schema.LOST) or (row["status"] == schema.LOST and not trainer_alive):
        raise KohyaWrapError(f"Job {row['id']} is {row['status']}; there is nothing to stop.")
    if not trainer_alive:
        raise KohyaWrapError(f"Job {row['id']} has no trainer process yet (it is starting).",
                             hint="try again in a few seconds")
    sent: list[str] = []
    stop_group(int(pgid), grace_s, sent=sent)
    if row["status"] == schema.LOST:
        how = ", ".join(sent) if sent else "it was already gone"
        return _mark(registry, row, "cancelled", f"stopped by the user after its supervisor was lost ({how})")
    return _wait_recorded(registry, row["id"], timeout_s=grace_s + 15.0)


def _wait_recorded(registry: Registry, job_id: str, timeout_s: float) -> dict:
    # The supervising process records the outcome; wait for it so the caller sees the final row.
    deadline = time.monotonic() + timeout_s
    row = get_job(registry, job_id)
    while row["status"] == schema.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
        row = get_job(registry, job_id)
    return row


RETRYABLE = ("failed", "cancelled", "stopped", schema.LOST)
MARKS = (schema.LOST, "failed")


def _trainer_alive(row: dict) -> bool:
    return bool(row.get("pgid")) and row.get("host") in (None, liveness.this_host()) \
        and liveness.group_alive(int(row["pgid"]))


def retry_job(registry: Registry, ref: str, *, fresh: bool = False) -> dict:
    """Put a job that ended without success back in the queue as a new attempt: the last attempt's files
    (its LoRAs and states too) move to attempts/<n>/, and the new attempt resumes from the last saved state
    of an earlier attempt when there is one (FRESH: from step 0)."""
    from kohya_wrap.registry.queue import requeue

    row = get_job(registry, ref)
    if row["status"] not in RETRYABLE:
        raise KohyaWrapError(f"Job {row['id']} is {row['status']}; only a failed, cancelled, stopped or lost job "
                             "can be retried.", hint="queue a new job to train it again")
    if _trainer_alive(row):
        raise KohyaWrapError(f"Job {row['id']}'s trainer (process group {row['pgid']}) is still running.",
                             hint=f"stop it first: kohya-wrap jobs stop {row['id']}")
    if not fresh:
        _check_resumable(Path(row["job_dir"]))
    return requeue(registry, row["id"], reason="retried by the user" + (" (from step 0)" if fresh else ""),
                   resume=not fresh)


def _check_resumable(job_dir: Path) -> None:
    """Refuse now, not when a worker claims it, a resume the job's checkout would count wrongly."""
    from kohya_wrap.job.resume import find_resume_point
    from kohya_wrap.runner.resume import counting

    output_dir, _ = jobfolder.output_target(job_dir)
    try:
        point = find_resume_point(output_dir)
    except KohyaWrapError:
        return  # no state in the last attempt: the worker looks in the earlier ones, or starts at step 0
    counting(job_dir, jobfolder.read_args(job_dir), point)


def mark_job(registry: Registry, ref: str, status: str) -> dict:
    """Record by hand that a 'running' (or lost) job's process is gone: status lost or failed. Refused while
    its supervisor or trainer is seen alive on this machine (stop it instead)."""
    if status not in MARKS:
        raise KohyaWrapError(f"A job can be marked {' or '.join(MARKS)}, not {status!r}.")
    row = get_job(registry, ref)
    if row["status"] not in (schema.RUNNING, schema.LOST) or row["status"] == status:
        raise KohyaWrapError(f"Job {row['id']} is {row['status']}; only a running or lost job can be marked {status}.")
    here = row.get("host") in (None, liveness.this_host())
    if row["status"] == schema.RUNNING and here and row.get("pid"):
        raise KohyaWrapError(f"Job {row['id']}'s supervising process {row['pid']} is alive on this machine.",
                             hint=f"stop it instead: kohya-wrap jobs stop {row['id']}")
    if _trainer_alive(row):
        raise KohyaWrapError(f"Job {row['id']}'s trainer (process group {row['pgid']}) is still running.",
                             hint=f"stop it instead: kohya-wrap jobs stop {row['id']}")
    was = f" (was {row['status']}: {row['cause']})" if row.get("cause") else f" (was {row['status']})"
    return _mark(registry, row, status, f"marked {status} by the user{was}")


def remove_job(registry: Registry, ref: str, *, keep_files: bool = False) -> dict:
    """Delete a job's rows and (unless keep_files) its folder; refuses while it runs."""
    row = get_job(registry, ref)
    if row["status"] == schema.RUNNING:
        raise KohyaWrapError(f"Job {row['id']} is running.", hint=f"stop it first: kohya-wrap jobs stop {row['id']}")
    delete_job(registry, row["id"])
    job_dir = Path(row["job_dir"])
    if not keep_files and job_dir.is_dir():
        shutil.rmtree(job_dir)
    return row

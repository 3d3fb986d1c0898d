"""training_jobs rows: register a job folder, look jobs up, list them, and mark vanished ones lost."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kohya_wrap.job.cost import job_rate
from kohya_wrap.job.folder import Candidate, JobNotFound, pick
from kohya_wrap.registry import schema
from kohya_wrap.registry.datasets import dataset_record
from kohya_wrap.registry.db import Registry
from kohya_wrap.job.folder import JobFolder, read as read_job_folder
from kohya_wrap.job.meta import update_meta
from kohya_wrap.registry.rows import job_row

jobs_t, datasets_t = schema.training_jobs, schema.training_datasets


def upsert(conn: Connection, table: sa.Table, row: dict, key: str = "id") -> None:
    values = {k: v for k, v in row.items() if k in table.c}
    updated = conn.execute(table.update().where(table.c[key] == values[key]).values(values))
    if updated.rowcount == 0:
        conn.execute(table.insert().values(values))


def upsert_dataset(conn: Connection, record: dict, created_at: float | None) -> None:
    existing = conn.execute(sa.select(datasets_t.c.created_at).where(datasets_t.c.id == record["id"]))
    earlier = existing.scalar()
    first = min((t for t in (earlier, created_at) if t is not None), default=None)
    upsert(conn, datasets_t, {**record, "created_at": first})


def folder_rate(folder: JobFolder) -> float | None:
    """USD per hour as recorded when the job started, else from its [limits] and the price table."""
    rate = job_rate(folder)
    return rate.usd_per_hour if rate else None


def ensure_dataset_meta(folder: JobFolder) -> dict | None:
    """The job's dataset record, computed once and kept in registry.json (the folders may move)."""
    if folder.meta.get("dataset") or not (folder.path / "dataset.toml").is_file():
        return folder.meta.get("dataset")
    record = dataset_record(folder.path / "dataset.toml")
    if record:
        folder.meta = update_meta(folder.path, dataset=record)
    return record


def register_folder(registry: Registry, job_dir: Path, *, versions: bool = True) -> dict:
    """Read a job folder and write its job, dataset and model-version rows; returns the job row."""
    folder = read_job_folder(job_dir)
    dataset = ensure_dataset_meta(folder)
    row = job_row(folder, folder_rate(folder))
    with registry.write() as conn:
        if dataset:
            upsert_dataset(conn, dataset, row["created_at"])
        upsert(conn, jobs_t, row)
    if versions:
        from kohya_wrap.registry.models import sync_versions

        sync_versions(registry, folder)
    return row


def get_job(registry: Registry, ref: str, *, check: bool = True) -> dict:
    """A job by the one rule of job.folder.pick: exact id, unique id prefix, newest job of that name."""
    with registry.read() as conn:
        row = conn.execute(sa.select(jobs_t).where(jobs_t.c.id == ref)).mappings().first()
        if row is None:
            rows = conn.execute(
                sa.select(jobs_t.c.id, jobs_t.c.name, jobs_t.c.created_at)
                .where(sa.or_(jobs_t.c.id.startswith(ref, autoescape=True), jobs_t.c.name == ref))
            ).all()
            try:
                chosen = pick(ref, [Candidate(r.id, r.name, r.created_at or 0.0) for r in rows])
            except JobNotFound as error:
                raise JobNotFound(f"{error.message.rstrip('.')} in the registry.",
                                  hint=error.hint if "ambiguous" in error.message else
                                  "see `kohya-wrap jobs ls`; `kohya-wrap registry rebuild` re-reads job folders") from None
            row = conn.execute(sa.select(jobs_t).where(jobs_t.c.id == chosen)).mappings().first()
    return refresh_lost(registry, [dict(row)])[0] if check else dict(row)


def list_jobs(registry: Registry, *, statuses=None, limit: int | None = None, check: bool = True) -> list[dict]:
    query = sa.select(jobs_t).order_by(jobs_t.c.created_at.desc(), jobs_t.c.id.desc())
    if statuses:
        query = query.where(jobs_t.c.status.in_(list(statuses)))
    if limit:
        query = query.limit(limit)
    with registry.read() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return refresh_lost(registry, rows) if check else rows


def page_jobs(registry: Registry, *, statuses=None, offset: int = 0, limit: int = 50,
              check: bool = True) -> tuple[list[dict], int]:
    """One page of jobs, newest first, without their config (a dashboard of 10,000 jobs), and how many
    jobs match in all."""
    where = jobs_t.c.status.in_(list(statuses)) if statuses else sa.true()
    columns = [column for column in jobs_t.c if column.name != "config"]
    query = (sa.select(*columns).where(where).order_by(jobs_t.c.created_at.desc(), jobs_t.c.id.desc())
             .offset(max(0, offset)).limit(max(1, limit)))
    with registry.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(jobs_t).where(where)).scalar() or 0
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return (refresh_lost(registry, rows) if check else rows), int(total)


def refresh_lost(registry: Registry, rows: list[dict], now: float | None = None) -> list[dict]:
    """Mark 'running' rows whose supervisor is gone as lost, or queued again when their trainer never
    started (in the row and in registry.json); keep lost rows current (registry.lost)."""
    from kohya_wrap.registry.lost import refresh

    return refresh(registry, rows, now)


def update_job(registry: Registry, job_id: str, **values) -> None:
    with registry.write() as conn:
        conn.execute(jobs_t.update().where(jobs_t.c.id == job_id).values(**values))


def delete_job(registry: Registry, job_id: str) -> None:
    with registry.write() as conn:
        conn.execute(schema.model_versions.delete().where(schema.model_versions.c.job_id == job_id))
        conn.execute(jobs_t.delete().where(jobs_t.c.id == job_id))


def speed_history(registry: Registry, limit: int = 200):
    """Mean s/it of recent succeeded jobs as (s_per_it, gpu_name, speed_key) tuples."""
    query = (sa.select(jobs_t.c.mean_s_per_it, jobs_t.c.gpu_name, jobs_t.c.speed_key)
             .where(jobs_t.c.status == "succeeded", jobs_t.c.mean_s_per_it.is_not(None))
             .order_by(jobs_t.c.ended_at.desc()).limit(limit))
    with registry.read() as conn:
        return [tuple(r) for r in conn.execute(query)]

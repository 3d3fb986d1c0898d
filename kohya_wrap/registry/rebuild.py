"""Re-create the registry's rows from job folders, so a lost database loses nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from kohya_wrap import paths
from kohya_wrap.registry import schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.job.folder import is_job_folder, read as read_job_folder
from kohya_wrap.registry.jobs import ensure_dataset_meta, folder_rate, upsert, upsert_dataset
from kohya_wrap.registry.models import insert_versions, record_versions, version_rows
from kohya_wrap.registry.rows import job_row


@dataclass
class RebuildReport:
    jobs: list[str] = field(default_factory=list)
    versions: int = 0
    datasets: set[str] = field(default_factory=set)
    pruned: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (folder, why)

    def as_dict(self) -> dict:
        return {"jobs": len(self.jobs), "versions": self.versions, "datasets": len(self.datasets),
                "pruned": self.pruned, "skipped": [{"folder": f, "why": w} for f, w in self.skipped]}


def job_folders(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and is_job_folder(p))


def rebuild(registry: Registry, runs_dir: Path | None = None, *, prune: bool = False) -> RebuildReport:
    """Upsert a row per job folder under runs_dir and a version per output file.

    Versions keep the numbers recorded in their job folders; files never numbered get the next
    numbers in the order they were saved, and those numbers are written back, so a second rebuild
    gives the same rows.
    """
    runs_dir = Path(runs_dir or paths.runs_dir())
    report, folders = RebuildReport(), []
    for path in job_folders(runs_dir):
        try:
            folder = read_job_folder(path)
        except (OSError, ValueError) as error:  # a damaged folder is reported, the rest still rebuilt
            report.skipped.append((str(path), f"{type(error).__name__}: {error}"))
            continue
        unreadable_config = [problem for problem in folder.problems if problem.startswith("job.toml")]
        if unreadable_config:  # without its config the job cannot be described: report it instead
            report.skipped.append((str(path), "; ".join(unreadable_config)))
        else:
            folders.append(folder)
    rows = []
    for folder in folders:
        dataset = ensure_dataset_meta(folder)
        rows.append((folder, job_row(folder, folder_rate(folder)), dataset))
    rows.sort(key=lambda item: (item[1]["created_at"] or 0, item[1]["id"]))
    versions = [v for folder, _, _ in rows for v in version_rows(folder)]
    # Numbered files first (they keep their numbers), the rest in the order they were saved.
    versions.sort(key=lambda v: (v["version"] is None, v["created_at"], v["uri"]))
    with registry.write() as conn:
        for folder, row, dataset in rows:
            if dataset:
                upsert_dataset(conn, dataset, row["created_at"])
                report.datasets.add(dataset["id"])
            upsert(conn, schema.training_jobs, row)
            report.jobs.append(row["id"])
        stored = insert_versions(conn, versions)
        if prune:
            report.pruned = _prune(conn)
    by_job = {}
    for version in stored:
        by_job.setdefault(version["job_id"], []).append(version)
    for folder, _, _ in rows:
        record_versions(folder, by_job.get(folder.id, []))
    report.versions = len(stored)
    return report


def _prune(conn) -> list[str]:
    """Delete the rows of jobs whose folder no longer exists."""
    jobs_t = schema.training_jobs
    rows = conn.execute(sa.select(jobs_t.c.id, jobs_t.c.job_dir)).all()
    gone = [job_id for job_id, job_dir in rows if not Path(job_dir).is_dir()]
    for job_id in gone:
        conn.execute(schema.model_versions.delete().where(schema.model_versions.c.job_id == job_id))
        conn.execute(jobs_t.delete().where(jobs_t.c.id == job_id))
    return gone

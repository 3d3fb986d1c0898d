"""Re-create the registry's rows from job folders, so a lost database loses nothing; a damaged folder is
rebuilt from what can be read (and listed with its problem), never a reason to stop."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa

from kohya_wrap import paths
from kohya_wrap.registry import schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.job.meta import is_dry_run
from kohya_wrap.job.folder import JobFolder, is_job_folder, read as read_job_folder
from kohya_wrap.registry.jobs import ensure_dataset_meta, folder_rate, upsert, upsert_dataset
from kohya_wrap.registry.models import file_path, insert_versions, record_versions, version_rows
from kohya_wrap.registry.rows import job_row

# Parts of a folder that job_row can do without, dropped one at a time when a value in them is unusable.
_PARTS = ("summary", "meta", "events", "command")
_ODD_VALUES = (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError)


@dataclass
class RebuildReport:
    jobs: list[str] = field(default_factory=list)
    versions: int = 0
    datasets: set[str] = field(default_factory=set)
    pruned: list[str] = field(default_factory=list)
    pruned_versions: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (folder, why)
    dry_runs: list[str] = field(default_factory=list)  # folders a dry run rendered, left out: no row written
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (folder, problems): rebuilt without them

    def as_dict(self) -> dict:
        return {"jobs": len(self.jobs), "versions": self.versions, "datasets": len(self.datasets),
                "pruned": self.pruned, "pruned_versions": self.pruned_versions,
                "skipped": [{"folder": f, "why": w} for f, w in self.skipped], "dry_runs": self.dry_runs,
                "damaged": [{"folder": f, "problems": p} for f, p in self.damaged]}


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
    report, rows = RebuildReport(), []
    for path in job_folders(runs_dir):
        if is_dry_run(path):  # a rendered folder that never ran is no job to record
            report.dry_runs.append(str(path))
            continue
        described = _describe(path, report)
        if described is not None:
            rows.append(described)
    rows.sort(key=lambda item: (item[1]["created_at"] or 0, item[1]["id"]))
    versions = [v for folder, _, _ in rows for v in version_rows(folder)]
    # Numbered files first (they keep their numbers), the rest in the order they were saved.
    versions.sort(key=lambda v: (v["version"] is None, v["created_at"], v["uri"]))
    with registry.write() as conn:
        for folder, row, dataset in rows:
            if _store(conn, row, dataset, report):
                report.jobs.append(row["id"])
        written = set(report.jobs)
        stored = insert_versions(conn, [v for v in versions if v["job_id"] in written])
        if prune:
            report.pruned, report.pruned_versions = _prune(conn)
    by_job: dict[str, list[dict]] = {}
    for version in stored:
        by_job.setdefault(version["job_id"], []).append(version)
    for folder, _, _ in rows:
        if folder.id in written and "meta" not in _damaged_parts(folder):
            record_versions(folder, by_job.get(folder.id, []))
    report.versions = len(stored)
    return report


def _describe(path: Path, report: RebuildReport):
    """(folder, job row, dataset record) from what can be read of the folder; None when nothing can."""
    try:
        folder = read_job_folder(path)
    except OSError as error:
        report.skipped.append((str(path), f"{type(error).__name__}: {error}"))
        return None
    unreadable_config = [problem for problem in folder.problems if problem.startswith("job.toml")]
    if unreadable_config:  # without its config the job cannot be described: report it instead
        report.skipped.append((str(path), "; ".join(unreadable_config)))
        return None
    problems = list(folder.problems)
    dataset = None
    try:
        dataset = ensure_dataset_meta(folder) if "meta" not in _damaged_parts(folder) else None
    except (OSError, *_ODD_VALUES) as error:
        problems.append(f"dataset record: {type(error).__name__}: {error}")
    row, folder = _row(folder, problems)
    if row is None:
        report.skipped.append((str(path), "; ".join(problems)))
        return None
    if problems:
        report.damaged.append((str(path), "; ".join(problems)))
    return folder, row, dataset


def _row(folder: JobFolder, problems: list[str]) -> tuple[dict | None, JobFolder]:
    """The job row; a part holding unusable values (summary.json {"steps": "x"}) is left out and named:
    each part alone first, then all of them."""
    first_error = None
    for parts in ([], *([part] for part in _PARTS), list(_PARTS)):
        trial = replace(folder, **{part: [] if part == "events" else {} for part in parts})
        try:
            row = job_row(trial, folder_rate(trial))
        except _ODD_VALUES as error:
            first_error = first_error or error
            continue
        if parts:
            problems.append(f"left out {', '.join(_FILES[part] for part in parts)}: unusable values "
                            f"({type(first_error).__name__}: {first_error})")
        return row, trial
    problems.append(f"no row can be made ({type(first_error).__name__}: {first_error})")
    return None, folder


_FILES = {"summary": "summary.json", "meta": "registry.json", "events": "events.jsonl", "command": "command.json"}


def _damaged_parts(folder: JobFolder) -> set[str]:
    names = {file: part for part, file in _FILES.items()}
    return {names.get(problem.split(":", 1)[0]) for problem in folder.problems} - {None}


def _store(conn, row: dict, dataset: dict | None, report: RebuildReport) -> bool:
    """Write one job's rows in a savepoint: a row the database refuses skips that job, not the rebuild."""
    try:
        with conn.begin_nested():
            if dataset:
                upsert_dataset(conn, dataset, row["created_at"])
            upsert(conn, schema.training_jobs, row)
    except (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.StatementError) as error:
        report.skipped.append((row["job_dir"], f"the database refused its row: {getattr(error, 'orig', error)}"))
        return False
    if dataset:
        report.datasets.add(dataset["id"])
    return True


def _prune(conn) -> tuple[list[str], list[str]]:
    """Delete the rows of jobs whose folder no longer exists, and versions whose file is gone."""
    jobs_t, versions_t = schema.training_jobs, schema.model_versions
    rows = conn.execute(sa.select(jobs_t.c.id, jobs_t.c.job_dir)).all()
    gone = [job_id for job_id, job_dir in rows if not Path(job_dir).is_dir()]
    for job_id in gone:
        conn.execute(versions_t.delete().where(versions_t.c.job_id == job_id))
        conn.execute(jobs_t.delete().where(jobs_t.c.id == job_id))
    stale = [(vid, f"{name}:v{number}") for vid, uri, name, number in conn.execute(
        sa.select(versions_t.c.id, versions_t.c.uri, versions_t.c.model_name, versions_t.c.version))
        if "#" in uri or not file_path(uri).is_file()]
    for vid, _ in stale:
        conn.execute(versions_t.delete().where(versions_t.c.id == vid))
    return gone, [label for _, label in stale]

"""Adopt a past sd-scripts run: a new job folder that refers to the run's files where they lie, with its events,
outcome, reports and model versions, so it shows beside new runs. The run's own files are only read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers import past_evidence as evidence
from kohya_wrap.importers.past_run import RunFolder, scan
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.meta import META_FILE, read_meta, update_meta
from kohya_wrap.registry.db import Registry
from kohya_wrap.runner import adopt_evidence as found
from kohya_wrap.runner.adopt_evidence import Progress


@dataclass
class Adopted:
    """What `registry import` did with one folder: imported, updated (its files changed) or unchanged."""

    source: str
    action: str
    job_id: str
    job_dir: str
    status: str | None = None
    cause: str | None = None
    message: str = ""
    steps: dict = field(default_factory=dict)
    versions: list[dict] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def adopt(registry: Registry, source: Path, runs_dir: Path | None = None, progress: Progress | None = None) -> Adopted:
    """Import the run in SOURCE once: the same folder with the same files again changes nothing."""
    run = scan(source)
    runs_dir = Path(runs_dir or paths.runs_dir())
    previous = find_import(runs_dir, run.source)
    files = run.referenced()
    if previous is not None and _same_stat(read_meta(previous)["imported"], files):
        return _unchanged(registry, previous, run)
    records, infos = found.file_records(files, progress)
    key = found.import_key(run.source, records)
    if previous is not None and read_meta(previous)["imported"].get("key") == key:
        return _unchanged(registry, previous, run)
    return _import(registry, run, runs_dir, previous, records, infos, key)


def find_import(runs_dir: Path, source: Path) -> Path | None:
    """The job folder an earlier import of SOURCE made (registry.json `imported.source`), if any."""
    for path in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else ():
        if not (path / META_FILE).is_file():
            continue
        try:
            imported = read_meta(path).get("imported")
        except (OSError, ValueError):
            continue  # a damaged registry.json is `registry rebuild`'s to report
        if isinstance(imported, dict) and imported.get("source") == str(source):
            return path
    return None


def _same_stat(imported: dict, files: list[tuple[Path, str]]) -> bool:
    recorded = {(r["path"], r["role"], r["bytes"], r.get("mtime_ns"), r.get("ctime_ns")) for r in imported["files"]}
    now = {(str(path), role, *found.stat_key(path)) for path, role in files}
    return recorded == now


def _unchanged(registry: Registry, job_dir: Path, run: RunFolder) -> Adopted:
    from kohya_wrap.registry.jobs import get_job, register_folder

    try:
        row = get_job(registry, job_dir.name, check=False)
    except jobfolder.JobNotFound:  # the folder is there but this database never saw it
        row = register_folder(registry, job_dir)
    return _result(registry, "unchanged", job_dir, row, run, read_meta(job_dir)["imported"])


def _import(registry: Registry, run: RunFolder, runs_dir: Path, previous: Path | None, records: list[dict],
            infos: dict, key: str) -> Adopted:
    from kohya_wrap.registry.jobs import register_folder

    metas = {path: evidence.lora_metadata(path) for path in run.outputs}
    config = evidence.training_config(run, metas)
    tb_root, notes = found.tensorboard_root(run)
    total = config.imported.get("training.max_train_steps") if config.imported else None
    events, event_notes = found.run_events(run, metas, total or evidence.max_steps(metas), tb_root)
    output_name = config.output_name or found.named_output(events, metas)
    outcome = found.decide(events, run, infos, output_name)
    name = output_name or run.source.name
    job_dir = previous or runs_dir / jobfolder.new_job_id(name, _started_at(events, metas, records))
    imported = {"source": str(run.source), "key": key, "imported_at": time.time(), "config": config.origin or None,
                "tensorboard": str(tb_root) if tb_root else None, "logs": [str(p) for p in run.logs],
                "skipped": [{"path": str(p), "why": why} for p, why in run.skipped],
                "notes": config.notes + notes + event_notes, "files": records}
    _write(job_dir, evidence.job_toml(config, run.source, name), events, imported, outcome, tb_root, run)
    row = register_folder(registry, job_dir)
    action = "updated" if previous is not None else "imported"
    return _result(registry, action, job_dir, row, run, imported)


def _started_at(events: list, metas: dict, records: list[dict]) -> float:
    """When the run began, as the job id dates it: the log's first time, else the LoRAs' metadata, else the
    oldest file."""
    logged = [event.t for event in events if event.t]
    return (min(logged) if logged else None) or evidence.run_started_at(metas) or min(r["mtime"] for r in records)


def _write(job_dir: Path, toml_text: str, events: list, imported: dict, outcome, tb_root: Path | None,
           run: RunFolder) -> None:
    """The job folder, job.toml last: until it is there the folder is not a job folder, and an interrupted import
    is completed by the next one (it finds registry.json)."""
    from kohya_wrap.reports.write import write_reports

    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        jobfolder.write_text(job_dir, jobfolder.EVENTS, "".join(event.to_json() + "\n" for event in events))
        update_meta(job_dir, imported=imported)
        write_reports(job_dir, outcome.to_dict(), events=events, tensorboard=tb_root,
                      extra_sample_dirs=run.sample_dirs(), keep_outcome=False)
        jobfolder.write_text(job_dir, jobfolder.JOB_TOML, toml_text)
    except OSError as error:
        raise KohyaWrapError(f"Cannot write the job folder {job_dir}: {error.strerror or error}.",
                             hint="check the runs folder (--runs / KOHYA_WRAP_RUNS) is writable and has space") from None


def _result(registry: Registry, action: str, job_dir: Path, row: dict, run: RunFolder, imported: dict) -> Adopted:
    from kohya_wrap.registry.models import list_versions

    versions = [{"name": v["model_name"], "version": v["version"], "file": _path_of(v["uri"]), "sha256": v["sha256"],
                 "step": v["step"], "epoch": v["epoch"], "problem": v["problem"]}
                for v in list_versions(registry) if v["job_id"] == job_dir.name]
    return Adopted(str(run.source), action, job_dir.name, str(job_dir), row.get("status"), row.get("cause"),
                   _message(job_dir), {"done": row.get("step"), "total": row.get("total_steps")},
                   sorted(versions, key=lambda v: (v["name"], v["version"])), len(imported["files"]),
                   sum(r["bytes"] for r in imported["files"]), imported.get("skipped", []), imported.get("notes", []))


def _message(job_dir: Path) -> str:
    summary = jobfolder.read_json(job_dir / jobfolder.SUMMARY)
    return str((summary.get("outcome") or {}).get("message") or "")


def _path_of(uri: str) -> str:
    from urllib.parse import unquote, urlparse

    return unquote(urlparse(uri).path)

"""JOB|MODEL|FILE references for validate, generate and export, and recording a validation where users see it
(the job's registry.json, the model version's row, report.html)."""

from __future__ import annotations

from pathlib import Path

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.meta import update_model_entry


def lora_path(ref: str) -> str:
    """A reference as a path: a file or folder as given, a model version (NAME, NAME:vN) from the registry,
    else a job by the one rule of job.folder.find (its final LoRA is then picked by the caller)."""
    if Path(ref).expanduser().exists() or "/" in ref or ref.endswith(".safetensors"):
        return ref  # a path (present or not: the library names what is missing)
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.models import ModelNotFound, file_name, file_path, get_version

    try:
        return str(jobfolder.find(ref))
    except jobfolder.JobNotFound as error:
        if "ambiguous" in error.message:
            raise
        try:
            row = get_version(open_registry(), ref)
        except ModelNotFound:
            raise error from None
    path = file_path(row["uri"])
    return str(path) if path.is_file() else file_name(row["uri"])


def record_validation(record: dict, run_dir: Path) -> list[str]:
    """Keep each job LoRA's validation summary in its registry.json, refresh its registry rows and its report;
    returns the job folders updated."""
    from kohya_wrap.validate.record import registry_summary

    summary = registry_summary(record, run_dir)
    jobs = []
    for lora in record.get("loras", []):
        if not lora.get("job"):
            continue
        job_dir = Path(lora["job"])
        update_model_entry(job_dir, Path(lora["path"]).name, validation=summary)
        jobs.append(str(job_dir))
    for job in sorted(set(jobs)):
        _refresh(Path(job))
    return sorted(set(jobs))


def _refresh(job_dir: Path) -> None:
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.jobs import register_folder
    from kohya_wrap.reports.write import write_reports

    if (job_dir / jobfolder.SUMMARY).is_file():
        write_reports(job_dir)
    register_folder(open_registry(), job_dir)

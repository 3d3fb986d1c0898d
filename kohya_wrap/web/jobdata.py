"""The data of the jobs pages (one dict each, the page and its JSON twin show the same): list rows and one job."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from urllib.parse import quote

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.causes import CAUSES, hint as cause_hint
from kohya_wrap.registry import schema
from kohya_wrap.registry.jobs import get_job, page_jobs
from kohya_wrap.registry.models import file_name, list_versions
from kohya_wrap.reports import fmt, inputs, metrics
from kohya_wrap.reports.charts import lr_series

STATUSES = (schema.QUEUED, schema.RUNNING, "succeeded", "failed", "cancelled", "stopped", schema.LOST,
            schema.PREPARED)
LIST_FIELDS = ("id", "name", "status", "cause", "preset", "step", "total_steps", "epoch", "last_loss",
               "mean_s_per_it", "cost_usd", "hourly_usd", "gpu", "gpu_name", "worker", "attempts",
               "created_at", "queued_at", "started_at", "ended_at")
LOG_TAIL_BYTES, LOG_TAIL_LINES = 64 * 1024, 40
TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # tqdm's cursor moves between its nested bars


def eta_s(row: dict) -> float | None:
    """Seconds left of a running job at its current speed."""
    if row.get("status") != schema.RUNNING or not row.get("mean_s_per_it") or not row.get("total_steps"):
        return None
    return max(0.0, (row["total_steps"] - (row.get("step") or 0)) * row["mean_s_per_it"])


def list_item(row: dict) -> dict:
    item = {key: row.get(key) for key in LIST_FIELDS}
    item["eta_s"] = eta_s(row)
    item["url"] = f"/jobs/{quote(row['id'])}"
    return item


def jobs_page(registry, *, status: str | None = None, page: int = 1, per_page: int = 50) -> dict:
    page, per_page = max(1, page), min(max(1, per_page), 500)
    rows, total = page_jobs(registry, statuses=[status] if status else None,
                            offset=(page - 1) * per_page, limit=per_page)
    return {"jobs": [list_item(row) for row in rows], "total": total, "page": page, "per_page": per_page,
            "pages": max(1, math.ceil(total / per_page)), "status": status, "statuses": list(STATUSES)}


def _last(events: list[dict], kind: str) -> dict:
    return next((event for event in reversed(events) if event.get("type") == kind), {})


def progress(row: dict, events: list[dict]) -> dict:
    """Where the run is: step, epoch, loss, speed, ETA, elapsed (the last step event, else the row)."""
    step, epoch = _last(events, "step"), _last(events, "epoch")
    s_per_it = step.get("s_per_it") or row.get("mean_s_per_it")
    end = row.get("ended_at") or (time.time() if row.get("status") == schema.RUNNING else None)
    return {"step": step.get("step", row.get("step")), "total": step.get("total") or row.get("total_steps"),
            "epoch": epoch.get("epoch", row.get("epoch")), "epochs": epoch.get("total") or _last(events, "config").get("epochs"),
            "loss": step.get("loss", row.get("last_loss")), "avr_loss": step.get("avr_loss"),
            "s_per_it": s_per_it, "it_s": step.get("it_s") or (1.0 / s_per_it if s_per_it else None),
            "eta_s": step.get("eta_s") if row.get("status") == schema.RUNNING else None,
            "elapsed_s": (end - row["started_at"]) if end and row.get("started_at") else None}


def cost(row: dict, config: dict) -> dict:
    limits = config.get("limits") or {}
    return {"usd": row.get("cost_usd"), "usd_per_hour": row.get("hourly_usd"),
            "max_cost_usd": limits.get("max_cost_usd"), "max_hours": limits.get("max_hours")}


def diagnosis(row: dict, summary: dict) -> dict | None:
    """Why a job did not succeed, with what to do: the report's own words, else the row's cause."""
    if row.get("status") in (schema.QUEUED, schema.RUNNING, schema.PREPARED, "succeeded"):
        return None
    found = fmt.problem(summary) if summary else None
    if found:
        kind, message, hint = found
        return {"kind": kind, "message": message, "hint": hint or None}
    cause = row.get("cause")
    return {"kind": row.get("status"), "message": cause or row.get("status"),
            "hint": cause_hint(cause) if cause in CAUSES else None}


def log_tail(job_dir: Path) -> list[str]:
    """The last lines of train.log as a terminal would show them (a tqdm redraw replaces its line)."""
    path = job_dir / jobfolder.TRAIN_LOG
    if not path.is_file():
        return []
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
        text = handle.read().decode("utf-8", "replace")
    text = TERMINAL_CODES.sub("", text)
    lines = [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
    return [line for line in lines if line.strip()][-LOG_TAIL_LINES:]


def lr_curves(job_dir: Path, events: list[dict]) -> dict[str, list[list[float]]]:
    """Learning-rate curves from the run's TensorBoard files (sd-scripts logs lr there, not in its bar)."""
    scalars, _problem = inputs.read_scalars(job_dir / "logs")
    groups = metrics.by_tag(metrics.global_steps(scalars, events))
    return {series.name: [list(point) for point in series.points] for series in lr_series(groups)}


def loss_points(events: list[dict]) -> list[list]:
    """[step, loss, avr_loss] of every step event (the live page adds to these from the event stream)."""
    return [[e["step"], e.get("loss"), e.get("avr_loss")] for e in events if e.get("type") == "step" and "step" in e]


def files_of(job_id: str, job_dir: Path, events: list[dict]) -> dict:
    """Samples and saved checkpoints, each with the URL that serves it."""
    samples = [_relative(path, job_dir) for path in inputs.sample_files(job_dir, events)]
    saved = [{key: e.get(key) for key in ("path", "what", "step", "epoch", "final", "t")}
             for e in events if e.get("type") == "saved"]
    return {"samples": [{"path": rel, "url": f"/jobs/{quote(job_id)}/files/{quote(rel)}"} for rel in samples],
            "saved": saved}


def _relative(path: Path, job_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(job_dir.resolve()))
    except ValueError:
        return str(path)


def version_item(version: dict) -> dict:
    ref = f"{version['model_name']}:v{version['version']}"
    return {**version, "ref": ref, "file": file_name(version["uri"]),
            "url": f"/models/{quote(ref)}", "download": f"/api/models/{quote(ref)}/download"}


def job_detail(registry, ref: str) -> dict:
    row = get_job(registry, ref)
    job_dir = Path(row["job_dir"])
    folder = jobfolder.read(job_dir)
    events = folder.events
    versions = [version_item(v) for v in list_versions(registry) if v["job_id"] == row["id"]]
    job_toml = job_dir / jobfolder.JOB_TOML
    return {
        "job": {**list_item(row), "job_dir": row["job_dir"], "host": row.get("host"), "pid": row.get("pid"),
                "exit_code": row.get("exit_code"), "dataset_id": row.get("dataset_id")},
        "progress": progress(row, events), "cost": cost(row, folder.config),
        "diagnosis": diagnosis(row, folder.summary), "estimate": folder.meta.get("estimate"),
        "models": versions, **files_of(row["id"], job_dir, events),
        "curves": {"loss": loss_points(events), "lr": lr_curves(job_dir, events)},
        "log_tail": log_tail(job_dir), "problems": folder.problems,
        "config": folder.config, "job_toml": job_toml.read_text(encoding="utf-8") if job_toml.is_file() else "",
        "actions": actions(row),
    }


def actions(row: dict) -> list[str]:
    """The buttons that make sense for this status (the server checks again when one is pressed)."""
    status = row.get("status")
    found = []
    if status in (schema.QUEUED, schema.RUNNING, schema.LOST):
        found.append("stop")
    if status in ("failed", "cancelled", "stopped", schema.LOST):
        found.append("retry")
    if status == schema.RUNNING:
        found.append("mark-lost")
    if status in (schema.RUNNING, schema.LOST):
        found.append("mark-failed")
    return found


def sample_path(registry, ref: str, relative: str) -> Path | None:
    """A sample image of the job, only when the job's own files list it."""
    row = get_job(registry, ref, check=False)
    job_dir = Path(row["job_dir"])
    events = jobfolder.read_events(job_dir) if (job_dir / jobfolder.EVENTS).is_file() else []
    for path in inputs.sample_files(job_dir, events):
        if _relative(path, job_dir) == relative:
            return Path(path)
    return None

"""Pure derivation of registry rows from a read job folder (shared by live recording and rebuild)."""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import time
from datetime import datetime
from pathlib import Path

from kohya_wrap.job.cost import cost_between, speed_key
from kohya_wrap.registry import schema
from kohya_wrap.job.folder import JobFolder

_ID_TIME = re.compile(r"^(\d{8}-\d{6})-")
_STEP_SUFFIX = re.compile(r"(-step\d+|-\d{6})$")


def leaf(config: dict, key: str, default=None):
    """First value named `key` anywhere in the nested config (sections are for readability only)."""
    if key in config and not isinstance(config[key], dict):
        return config[key]
    for value in config.values():
        if isinstance(value, dict):
            found = leaf(value, key, None)
            if found is not None:
                return found
    return default


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _created_at(folder: JobFolder) -> float | None:
    for value in (folder.config.get("meta", {}).get("created_at"), folder.command.get("created_at")):
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value).timestamp()
            except ValueError:
                pass
    match = _ID_TIME.match(folder.id)
    return time.mktime(time.strptime(match.group(1), "%Y%m%d-%H%M%S")) if match else None


def _job_name(folder: JobFolder) -> str:
    from kohya_wrap.job.folder import name_of

    name = name_of(folder.id)
    return name if name != folder.id else folder.config.get("meta", {}).get("name") or folder.id


def _last(events: list[dict], kind: str) -> dict:
    return next((e for e in reversed(events) if e.get("type") == kind), {})


def _furthest_step(events: list[dict]) -> dict:
    # Not the last one: a trainer's interrupt traceback can redraw an older progress bar.
    steps = [e for e in events if e.get("type") == "step" and isinstance(e.get("step"), int)]
    return max(steps, key=lambda e: e["step"], default={})


def _s_per_it(event: dict) -> float | None:
    if event.get("s_per_it"):
        return float(event["s_per_it"])
    return 1.0 / float(event["it_s"]) if event.get("it_s") else None


def _mean_s_per_it(folder: JobFolder) -> float | None:
    value = (folder.summary.get("speed") or {}).get("mean_s_per_it")
    if value:
        return float(value)
    rates = [r for r in map(_s_per_it, (e for e in folder.events if e.get("type") == "step")) if r]
    return statistics.median(rates) if rates else None


def _status(folder: JobFolder) -> tuple[str, str | None, int | None]:
    summary, exited, queue = folder.summary, _last(folder.events, "exited"), folder.meta.get("queue", {})
    if summary.get("status"):
        code = (summary.get("outcome") or {}).get("exit_code", (summary.get("exit") or {}).get("code"))
        return summary["status"], summary.get("cause"), code
    outcome = folder.meta.get("outcome") or {}
    if outcome.get("status"):
        return outcome["status"], outcome.get("cause"), outcome.get("exit_code")
    if folder.meta.get("lost"):
        return schema.LOST, folder.meta["lost"].get("cause"), None
    if exited:
        return "failed", exited.get("cause") or "exited without a summary", exited.get("code")
    if _last(folder.events, "started") or folder.meta.get("supervisor"):
        return schema.RUNNING, None, None
    if queue.get("state") == "queued":
        return schema.QUEUED, None, None
    return schema.PREPARED, None, None


def gpu_name(folder: JobFolder) -> str | None:
    return folder.gpu_name


def job_row(folder: JobFolder, hourly_usd: float | None = None) -> dict:
    """The training_jobs row that this folder describes."""
    events, summary, meta = folder.events, folder.summary, folder.meta
    status, cause, exit_code = _status(folder)
    started, step = _last(events, "started"), _furthest_step(events)
    ended_at = (summary.get("ended_at") or _last(events, "exited").get("t")
                or meta.get("outcome", {}).get("ended_at"))
    started_at = started.get("t") or summary.get("started_at")
    queue, supervisor = meta.get("queue", {}), meta.get("supervisor", {})
    config_total = _last(events, "config").get("steps")
    row = {
        "id": folder.id,
        "name": _job_name(folder),
        "status": status, "cause": cause, "exit_code": exit_code,
        "preset": folder.preset,
        "config": folder.config, "config_hash": config_hash(folder.config),
        "speed_key": speed_key(folder.config),
        "dataset_id": (meta.get("dataset") or {}).get("id"),
        "backend_commit": folder.command.get("backend_commit") or folder.command.get("commit"),
        "platform": folder.command.get("platform"),
        "host": supervisor.get("host") or started.get("host"),
        "pid": supervisor.get("pid"), "pid_start": supervisor.get("pid_start"),
        "pgid": started.get("pgid") or started.get("pid"),
        "gpu": supervisor.get("gpu"), "gpu_name": gpu_name(folder), "worker": supervisor.get("worker"),
        "priority": int(queue.get("priority", 0)), "attempts": int(queue.get("attempts", 0)),
        "created_at": _created_at(folder), "queued_at": queue.get("queued_at"),
        "started_at": started_at, "ended_at": ended_at if status not in (schema.RUNNING,) else None,
        "step": _pick(summary, "steps", "done", step.get("step")),
        "total_steps": _pick(summary, "steps", "total", step.get("total") or config_total),
        "epoch": _pick(summary, "epochs", "done", _last(events, "epoch").get("epoch")),
        "last_loss": _finite(_pick(summary, "loss", "last", step.get("loss", step.get("avr_loss")))),
        "mean_s_per_it": _mean_s_per_it(folder),
        "hourly_usd": hourly_usd,
        "cost_usd": _cost(folder, hourly_usd, started_at, ended_at),
        "job_dir": str(folder.path),
    }
    row["heartbeat_at"] = None if status != schema.RUNNING else (events[-1].get("t") if events else None)
    return row


def _pick(summary: dict, section: str, key: str, fallback):
    value = (summary.get(section) or {}).get(key)
    return fallback if value is None else value


def _finite(value) -> float | None:
    # Non-finite losses are recorded as text in events; the row keeps numbers only (the cause says nan).
    number = _float(value)
    return number if number is not None and math.isfinite(number) else None


def _cost(folder: JobFolder, hourly_usd, started_at, ended_at) -> float | None:
    """summary.json's cost when the job has finished (job.cost computed it); live, the same rate over the
    time so far."""
    recorded = (folder.summary.get("cost") or {}).get("usd") if isinstance(folder.summary.get("cost"), dict) else None
    if recorded is not None:
        return float(recorded)
    limit = _last(folder.events, "limit")
    if limit.get("cost_usd") is not None:
        return float(limit["cost_usd"])
    end = ended_at or (folder.events[-1].get("t") if folder.events else None)
    return cost_between(hourly_usd, started_at, end)


def model_name(metadata: dict, config: dict, file: Path) -> str:
    return (metadata.get("ss_output_name") or leaf(config, "output_name")
            or _STEP_SUFFIX.sub("", file.stem))


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def version_row(folder: JobFolder, file: Path, info: dict, saved_t: float | None) -> dict:
    """A model_versions row without its version number (assigned when inserted)."""
    md = info.get("metadata") or {}
    entry = folder.meta.get("models", {}).get(model_key(folder.path, file), {})
    if entry.get("sha256") and info.get("sha256") and entry["sha256"] != info["sha256"]:
        entry = {}  # recorded for other content that stood at this place: a version is its content
    bad = info.get("nonfinite_tensors") or []
    problem = info.get("error") or (f"{len(bad)} tensors hold NaN/Inf: not a usable output" if bad else None)
    return {
        "model_name": model_name(md, folder.config, file), "version": entry.get("version"),
        "job_id": folder.id, "uri": file.resolve().as_uri(), "sha256": info.get("sha256"),
        "bytes": info.get("bytes"),
        "step": _int(md.get("ss_steps")), "epoch": _int(md.get("ss_epoch")),
        "rank": _int(md.get("ss_network_dim")), "alpha": _float(md.get("ss_network_alpha")),
        "base_model_hash": md.get("ss_new_sd_model_hash") or md.get("ss_sd_model_hash"),
        "problem": problem, "created_at": saved_t if saved_t is not None else file.stat().st_mtime,
        "tags": sorted(entry.get("tags", [])), "notes": entry.get("notes"),
        "validation": entry.get("validation"),
    }


def model_key(job_dir: Path, file: Path) -> str:
    """registry.json's key for an output file: its name for output/ (and for files outside the folder), the
    path inside the job folder for an earlier attempt's file (attempts/<n>/output/<name>)."""
    try:
        relative = Path(file).resolve().relative_to(Path(job_dir).resolve())
    except ValueError:
        return Path(file).name
    return relative.as_posix() if relative.parts and relative.parts[0] == "attempts" else Path(file).name


def saved_times(folder: JobFolder) -> dict[str, float]:
    """File name -> time of its `saved` event."""
    return {Path(e["path"]).name: float(e["t"]) for e in folder.events
            if e.get("type") == "saved" and e.get("path") and "t" in e}

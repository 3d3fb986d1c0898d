"""Plain-text tables and JSON-ready dicts for registry rows (pure; the CLI prints them)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from kohya_wrap.registry.models import file_path


def when(t: float | None) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip() for line in [headers, *rows]]
    return "\n".join(lines)


def jobs_table(rows: list[dict]) -> str:
    body = [[r["id"], r["status"], f"{_num(r['step'], 'd')}/{_num(r['total_steps'], 'd')}",
             _num(r["last_loss"], ".4f"), _num(r["mean_s_per_it"], ".2f"), _num(r["cost_usd"], ".2f"),
             when(r["created_at"]), (r["cause"] or "")[:60]] for r in rows]
    return table(["JOB", "STATUS", "STEP", "LOSS", "S/IT", "USD", "CREATED", "CAUSE"], body)


def job_json(row: dict, *, with_config: bool = False) -> dict:
    return {k: v for k, v in row.items() if with_config or k != "config"}


def _where(uri: str, job_dir: str | None) -> str:
    """A version's file: its name in the job's output/, its path inside the job folder elsewhere (an earlier
    attempt's attempts/<n>/output/), else where it lies."""
    path = file_path(uri)
    try:
        inside = path.relative_to(job_dir) if job_dir else None
    except ValueError:
        return str(path)
    return path.name if inside is None or inside.parent.as_posix() == "output" else inside.as_posix()


def job_details(row: dict, versions: list[dict]) -> str:
    end = row["ended_at"] or (time.time() if row["status"] == "running" else None)
    wall = None if not row["started_at"] or not end else end - row["started_at"]
    fields = [
        ("job", row["id"]), ("name", row["name"]), ("status", row["status"]), ("cause", row["cause"]),
        ("preset", row["preset"]), ("folder", row["job_dir"]),
        ("progress", f"step {_num(row['step'], 'd')}/{_num(row['total_steps'], 'd')}, epoch {_num(row['epoch'], 'd')}"),
        ("loss (last)", _num(row["last_loss"], ".4f")), ("s/it (mean)", _num(row["mean_s_per_it"], ".2f")),
        ("cost", f"{_num(row['cost_usd'], '.4f')} USD at {_num(row['hourly_usd'], 'g')} USD/h"),
        ("created", when(row["created_at"])), ("started", when(row["started_at"])),
        ("ended", when(row["ended_at"])), ("wall time", duration(wall)),
        ("host / pid / pgid", f"{row['host'] or '-'} / {row['pid'] or '-'} / {row['pgid'] or '-'}"),
        ("worker / gpu", f"{row['worker'] or '-'} / {row['gpu'] or '-'} {row['gpu_name'] or ''}".rstrip()),
        ("backend", row["backend_commit"]), ("dataset", row["dataset_id"]), ("config hash", row["config_hash"]),
        ("exit code", row["exit_code"]),
    ]
    width = max(len(k) for k, _ in fields)
    lines = [f"{k.ljust(width)}  {v}" for k, v in fields if v not in (None, "")]
    if versions:
        lines.append("models:")
        lines += [f"  {v['model_name']}:v{v['version']}  step {v['step']}  {_where(v['uri'], row['job_dir'])}"
                  + (f"  PROBLEM: {v['problem']}" if v["problem"] else "") for v in versions]
    if row["status"] not in ("succeeded", "running", "queued") and row["job_dir"]:
        lines += failure_details(Path(row["job_dir"]))
    return "\n".join(lines)


def failure_details(job_dir: Path) -> list[str]:
    """The diagnosis of a run that did not succeed and its last log lines, from the job's summary.json."""
    from kohya_wrap.job.folder import SUMMARY, read_json
    from kohya_wrap.reports import fmt

    try:
        summary = read_json(job_dir / SUMMARY)
    except (OSError, ValueError) as error:
        return [f"diagnosis: summary.json cannot be read ({error})"]
    lines = []
    problem = fmt.problem(summary) if summary else None
    if problem:
        lines += ["diagnosis:", f"  {problem[0]}: {problem[1]}"] + ([f"  hint: {problem[2]}"] if problem[2] else [])
        lines += [f"  {label}: {value}" for label, value in fmt.diagnosis_facts(summary)]
    tail = fmt.log_tail(summary) if summary else []
    if tail:
        lines += [f"last {len(tail)} lines of {job_dir / 'train.log'}:"] + [f"  | {line}" for line in tail]
    return lines


def versions_table(rows: list[dict]) -> str:
    body = [[f"{r['model_name']}:v{r['version']}", r["job_id"], _num(r["step"], "d"), _num(r["rank"], "d"),
             f"{(r['bytes'] or 0) / 1e6:.1f} MB", (r["sha256"] or "")[:12], ",".join(r["tags"] or []),
             r["problem"] or ""] for r in rows]
    return table(["MODEL", "JOB", "STEP", "RANK", "SIZE", "SHA256", "TAGS", "PROBLEM"], body)


def version_details(row: dict) -> str:
    fields = [("model", f"{row['model_name']}:v{row['version']}"), ("job", row["job_id"]), ("file", row["uri"]),
              ("sha256", row["sha256"]), ("bytes", row["bytes"]), ("step / epoch", f"{row['step']} / {row['epoch']}"),
              ("rank / alpha", f"{row['rank']} / {row['alpha']}"), ("base model hash", row["base_model_hash"]),
              ("created", when(row["created_at"])), ("tags", ", ".join(row["tags"] or []) or None),
              ("notes", row["notes"]), ("problem", row["problem"])]
    width = max(len(k) for k, _ in fields)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in fields if v not in (None, ""))

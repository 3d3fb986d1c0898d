"""Write a job's reports (summary.json, report.html, report.md), and build the same for plain sd-scripts logs."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.fileio import write_text_atomic
from kohya_wrap.reports import inputs
from kohya_wrap.reports.html import render_html
from kohya_wrap.reports.markdown import render_markdown
from kohya_wrap.reports.summary import build_summary, write_summary

REPORT_FILES = ("summary.json", "report.html", "report.md")


def write_reports(job_dir: Path, outcome: dict | None = None, *, events: list[dict] | None = None,
                  tensorboard: Path | None = None, extra_sample_dirs: list[Path] = (),
                  keep_outcome: bool = True) -> dict:
    """Build the summary and write all three report files into job_dir; returns the summary.

    Without an outcome, the one already recorded in summary.json (by the runner) is kept, so re-running a
    report never changes a job's status. While the job runs only report.html/.md are written: summary.json is
    the record of a finished job.
    """
    job_dir = Path(job_dir)
    if outcome is None and keep_outcome:
        outcome = previous_outcome(job_dir)
    events = inputs.read_events(job_dir) if events is None else [inputs.as_dict(e) for e in events]
    scalars, problem = inputs.read_scalars(tensorboard if tensorboard is not None else job_dir / "logs")
    summary = build_summary(job_dir, events, outcome, scalars=scalars, extra_sample_dirs=extra_sample_dirs)
    summary["tensorboard_problem"] = problem
    if summary["status"] != "running":  # summary.json marks a finished job (logs -f stops on it)
        write_summary(job_dir, summary)
    write_text_atomic(job_dir / "report.html", render_html(summary, events, scalars, job_dir))
    write_text_atomic(job_dir / "report.md", render_markdown(summary, events, scalars, job_dir))
    return summary


def previous_outcome(job_dir: Path) -> dict | None:
    path = Path(job_dir) / "summary.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("outcome")
    except json.JSONDecodeError:
        return None


def report_from_log(logfiles: list[Path], out_dir: Path, tensorboard: Path | None = None) -> Path:
    """Parse plain sd-scripts log(s) into out_dir/events.jsonl and write the reports there; returns report.html."""
    from kohya_wrap.job.events import as_event
    from kohya_wrap.logs.parse import parse_files

    logfiles = [Path(p) for p in logfiles]
    missing = [str(p) for p in logfiles if not p.is_file()]
    if missing:
        raise KohyaWrapError(f"Log file not found: {', '.join(missing)}", hint="pass the stdout and/or stderr file of a run")
    if tensorboard is not None and not Path(tensorboard).is_dir():
        raise KohyaWrapError(f"TensorBoard folder not found: {tensorboard}",
                             hint="pass the run's logging_dir (or the folder holding events.out.tfevents.* files)")
    out_dir = Path(out_dir)
    if (out_dir / "job.toml").exists() or (out_dir / "command.json").exists():
        raise KohyaWrapError(f"{out_dir} is a kohya-wrap job folder: its events.jsonl must not be replaced",
                             hint=f"kohya-wrap report {out_dir}, or give --out a new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    parsed = parse_files(logfiles)
    write_text_atomic(out_dir / "events.jsonl", "".join(as_event(e).to_json() + "\n" for e in parsed))
    events = [inputs.as_dict(e) for e in parsed]
    sample_dirs = _sd_scripts_sample_dirs(events)
    write_reports(out_dir, events=events, tensorboard=tensorboard, extra_sample_dirs=sample_dirs, keep_outcome=False)
    return out_dir / "report.html"


def _sd_scripts_sample_dirs(events: list[dict]) -> list[Path]:
    # sd-scripts writes samples to <output_dir>/sample; the log names output_dir only through saved files.
    dirs = []
    for event in events:
        if event.get("type") == "saved" and event.get("path"):
            folder = Path(event["path"]).parent / "sample"
            if folder not in dirs:
                dirs.append(folder)
    return dirs

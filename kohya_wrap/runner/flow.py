"""What `kohya-wrap train` does end to end: prepare, decide dry-run, launch with progress and guards, resume."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap import jobfolder
from kohya_wrap.runner.prepare import Prepared, prepare as prepare_job_folder
from kohya_wrap.runner.supervise import Outcome, run_job


def must_dry_run(example: bool, model: Path | None) -> bool:
    """The built-in example without a model (or without a backend) can only be shown, not run."""
    from kohya_wrap.backend.locate import find_backend

    return example and (model is None or find_backend() is None)


def dry_run_reason(dry_run_flag: bool, prepared: Prepared, model: Path | None) -> str:
    reasons = []
    if prepared.spec is None:
        reasons.append("no sd-scripts backend is configured (kohya-wrap backend install, or KOHYA_WRAP_SD_SCRIPTS)")
    if model is None:
        reasons.append("no base model was given (--model FILE)")
    if not reasons and dry_run_flag:
        reasons.append("--dry-run")
    return "; ".join(reasons) + ". Nothing was launched."


def prepare(preset, overrides, **options) -> Prepared:
    return prepare_job_folder(preset, overrides, **options)


def launch(job_dir: Path, *, force: bool = False, env: dict | None = None, extra_sinks=(),
           resume_state: Path | None = None, step_offset: int = 0) -> Outcome:
    """Run a prepared job in the foreground with live progress; returns its outcome."""
    from kohya_wrap.progress import ProgressView

    view = ProgressView()
    try:
        outcome = run_job(job_dir, on_event=_fan_out([view, *extra_sinks]), env=env, resume_state=resume_state,
                          step_offset=step_offset, on_progress=view.progress)
    finally:
        view.close()
    _print_outcome(outcome, job_dir)
    return outcome


def resume(job: str, runs_dir: Path | None = None) -> Outcome:
    """Continue a job from the latest state that really exists, keeping the global step count."""
    from kohya_wrap.resume import find_resume_point, state_loaded

    job_dir = jobfolder.find_job(job, runs_dir)
    output_dir = _args(job_dir)["output_dir"]
    point = find_resume_point(Path(output_dir))
    log_path = job_dir / jobfolder.TRAIN_LOG
    log_start = log_path.stat().st_size if log_path.exists() else 0
    print(f"Resuming {job_dir.name} from {point.state_dir.name} (step {point.step}, epoch {point.epoch})")
    outcome = launch(job_dir, resume_state=point.state_dir, step_offset=point.step)
    loaded, detail = state_loaded(log_path.read_bytes()[log_start:])
    print(("  " if loaded else "  WARNING: ") + detail)
    return outcome


def _args(job_dir: Path) -> dict:
    from kohya_wrap.tomlcompat import loads

    data = loads((job_dir / "args.toml").read_text(encoding="utf-8"))
    return {key: value for table in data.values() if isinstance(table, dict) for key, value in table.items()}


def _fan_out(sinks):
    def sink(event: dict) -> None:
        for target in sinks:
            target(event)
    return sink


def _print_outcome(outcome: Outcome, job_dir: Path) -> None:
    line = f"Result: {outcome.status}"
    if outcome.cause:
        line += f" ({outcome.cause})"
    print(line + (f": {outcome.message}" if outcome.message else ""))
    if outcome.hint:
        print(f"  hint: {outcome.hint}")
    summary = job_dir / jobfolder.SUMMARY
    if summary.is_file():
        outputs = json.loads(summary.read_text(encoding="utf-8")).get("outputs", [])
        for output in outputs:
            print(f"  output: {output.get('path')} ({output.get('bytes')} bytes)")
    print(f"  report: {job_dir / 'report.html'}")

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


def launch(job_dir: Path, *, force: bool = False, env: dict | None = None, resume_state: Path | None = None,
           step_offset: int = 0) -> Outcome:
    """Run a prepared job in the foreground: estimate against limits, record it, show live progress."""
    from kohya_wrap.progress import ProgressView
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.recorder import JobRecorder

    registry = open_registry()
    guards = _limit_guards(registry, job_dir, force)
    recorder = JobRecorder(registry, job_dir)
    recorder.start()
    view = ProgressView(cost=next((guard for guard in guards if hasattr(guard, "describe")), None))
    try:
        outcome = run_job(job_dir, on_event=_fan_out([view, recorder.on_event]), guards=guards, env=env,
                          resume_state=resume_state, step_offset=step_offset, on_progress=view.progress)
    finally:
        view.close()
    recorder.finish(outcome)
    _print_outcome(outcome, job_dir)
    return outcome


def _limit_guards(registry, job_dir: Path, force: bool) -> list:
    """Refuse a run whose estimate is over [limits] (unless forced) and build the guards that enforce them."""
    from kohya_wrap.limits.estimate import preflight
    from kohya_wrap.limits.guards import MEASURE_STEPS, job_guards
    from kohya_wrap.registry.folder import read_job_folder
    from kohya_wrap.registry.jobs import speed_history
    from kohya_wrap.registry.rows import gpu_name, leaf

    folder = read_job_folder(job_dir)
    limits = folder.config.get("limits", {})
    if limits.get("max_cost_usd") is None and limits.get("max_hours") is None:
        return []
    gpu = gpu_name(folder)
    estimate, warnings = preflight(folder.config, leaf(folder.config, "max_train_steps"), speed_history(registry),
                                   gpu_name=gpu, force=force)
    print(f"Estimate: {estimate.basis}")
    for warning in warnings:
        print(f"  warning: {warning}")
    # With no history to estimate from, the first steps of this run are the measurement.
    measure = MEASURE_STEPS if estimate.seconds is None and not force else None
    return job_guards(folder.config, gpu, measure_steps=measure)


def resume(job: str, runs_dir: Path | None = None) -> Outcome:
    """Continue a job from the latest state that really exists, keeping the global step count."""
    from kohya_wrap.resume import find_resume_point, state_loaded

    job_dir = jobfolder.find_job(job, runs_dir)
    output_dir = jobfolder.read_args(job_dir)["output_dir"]
    point = find_resume_point(Path(output_dir))
    log_path = job_dir / jobfolder.TRAIN_LOG
    log_start = log_path.stat().st_size if log_path.exists() else 0
    print(f"Resuming {job_dir.name} from {point.state_dir.name} (step {point.step}, epoch {point.epoch})")
    outcome = launch(job_dir, resume_state=point.state_dir, step_offset=point.step)
    loaded, detail = state_loaded(log_path.read_bytes()[log_start:])
    print(("  " if loaded else "  WARNING: ") + detail)
    return outcome


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

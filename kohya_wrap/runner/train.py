"""What `kohya-wrap train` does: prepare, decide a dry run, run in the foreground with the limits plan and
the registry record, resume from the latest state. Returns results; the CLI shows them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.outcome import Outcome
from kohya_wrap.job.resume import ResumePoint
from kohya_wrap.runner.plan import LimitsPlan, plan_limits
from kohya_wrap.runner.prepare import Prepared, prepare
from kohya_wrap.runner.supervise import run_job

__all__ = ["Prepared", "ResumePlan", "TrainResult", "dry_run_reason", "must_dry_run", "plan", "prepare",
           "resume_plan", "run"]


@dataclass
class ResumePlan:
    """Where a resumed run continues: the job folder, the state folder, and where its new log starts."""

    job_dir: Path
    point: ResumePoint
    log_start: int


@dataclass
class TrainResult:
    """How a foreground run ended, with what the face shows after it."""

    job_dir: Path
    outcome: Outcome
    outputs: list[dict]
    report: Path
    resume_check: tuple[bool, str] | None = None


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


def plan(job_dir: Path, *, force: bool = False, registry=None) -> LimitsPlan:
    """The limits plan of a foreground run (raises LimitReached when the estimate is over a limit)."""
    from kohya_wrap.registry.db import open_registry

    return plan_limits(registry or open_registry(), job_dir, force=force)


def resume_plan(ref: str, runs_dir: Path | None = None) -> ResumePlan:
    """The job a reference means and the latest state it can really resume from."""
    from kohya_wrap.job.resume import find_resume_point

    job_dir = jobfolder.find(ref, runs_dir)
    output_dir, _ = jobfolder.output_target(job_dir)
    log = job_dir / jobfolder.TRAIN_LOG
    return ResumePlan(job_dir, find_resume_point(output_dir), log.stat().st_size if log.exists() else 0)


def run(job_dir: Path, limits: LimitsPlan, *, sinks: Iterable[Callable[[dict], None]] = (),
        on_progress: Callable[[dict], None] | None = None, env: dict | None = None,
        resume: ResumePlan | None = None, registry=None) -> TrainResult:
    """Run a prepared job in the foreground: the registry records it, the plan's guards enforce [limits]."""
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.recorder import JobRecorder

    recorder = JobRecorder(registry or open_registry(), job_dir)
    recorder.start()
    outcome = run_job(job_dir, on_event=_fan_out([*sinks, recorder.on_event]), guards=limits.guards, env=env,
                      resume_state=resume.point.state_dir if resume else None,
                      step_offset=resume.point.step if resume else 0, on_progress=on_progress)
    recorder.finish(outcome)
    summary = jobfolder.read_json(Path(job_dir) / jobfolder.SUMMARY)
    check = None
    if resume is not None:
        from kohya_wrap.job.resume import state_loaded

        check = state_loaded((Path(job_dir) / jobfolder.TRAIN_LOG).read_bytes()[resume.log_start:])
    return TrainResult(Path(job_dir), outcome, summary.get("outputs", []), Path(job_dir) / "report.html", check)


def _fan_out(sinks):
    def sink(event: dict) -> None:
        for target in sinks:
            target(event)
    return sink

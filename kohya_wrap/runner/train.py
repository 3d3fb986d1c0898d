"""What `kohya-wrap train` does: prepare, decide a dry run, run in the foreground with the limits plan and
the registry record, resume from the latest state. Returns results; the CLI shows them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.outcome import Outcome
from kohya_wrap.runner.dryrun import mark_dry_run, outlook, prune_dry_runs
from kohya_wrap.runner.plan import LimitsPlan, plan_limits
from kohya_wrap.runner.prepare import Prepared, prepare
from kohya_wrap.runner.resume import ResumePlan, apply_resume, resume_plan
from kohya_wrap.runner.supervise import run_job

__all__ = ["Prepared", "ResumePlan", "TrainResult", "apply_resume", "dry_run_reason", "finish_dry_run",
           "must_dry_run", "outlook", "plan", "prepare", "resume_plan", "run", "source_paths"]


@dataclass
class TrainResult:
    """How a foreground run ended, with what the face shows after it."""

    job_dir: Path
    outcome: Outcome
    outputs: list[dict]
    report: Path
    resume_check: tuple[bool, str] | None = None
    lora: Path | None = None  # the final LoRA, absolute, when it was written


def source_paths(source: str) -> tuple[Path | None, Path | None]:
    """(dataset, model) a preset or job.toml names itself: a job.toml holds both, so it re-runs alone."""
    from kohya_wrap.presets.catalog import find_preset, read_preset

    data = read_preset(find_preset(source))
    dataset = data.get("dataset", {}).get("train_dir") if isinstance(data.get("dataset"), dict) else None
    model = data.get("model", {}).get("pretrained_model_name_or_path") if isinstance(data.get("model"), dict) else None
    return (Path(dataset) if dataset else None), (Path(model) if model else None)


def finish_dry_run(prepared: Prepared, reason: str, source: str | None = None) -> list[Path]:
    """Mark the folder as a dry run (registry rebuild must not take it for a failed job) and remove the earlier
    dry-run folders of the same job name, so that repeated dry runs do not pile up; returns the removed.
    A job folder whose job.toml is the SOURCE stays."""
    mark_dry_run(prepared.job_dir, reason)
    origin = Path(source).expanduser().parent if source and Path(source).name == jobfolder.JOB_TOML else None
    return prune_dry_runs(prepared.job_dir, spare=origin)


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


def plan(job_dir: Path, *, force: bool = False, registry=None, resume: ResumePlan | None = None) -> LimitsPlan:
    """The limits plan of a foreground run (raises LimitReached when the estimate is over a limit); a resume's
    estimate covers the steps left."""
    from kohya_wrap.registry.db import open_registry

    return plan_limits(registry or open_registry(), job_dir, force=force,
                       steps_done=resume.point.step if resume else 0)


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
                      step_offset=resume.step_offset if resume else 0, on_progress=on_progress)
    recorder.finish(outcome)
    summary = jobfolder.read_json(Path(job_dir) / jobfolder.SUMMARY)
    check = None
    if resume is not None:
        from kohya_wrap.job.resume import state_loaded

        check = state_loaded((Path(job_dir) / jobfolder.TRAIN_LOG).read_bytes()[resume.log_start:])
    output_dir, name = jobfolder.output_target(job_dir)
    final = (Path(output_dir) / f"{name}.safetensors").resolve()
    return TrainResult(Path(job_dir), outcome, summary.get("outputs", []), (Path(job_dir) / "report.html").resolve(),
                       check, final if final.is_file() else None)


def _fan_out(sinks):
    def sink(event: dict) -> None:
        for target in sinks:
            target(event)
    return sink

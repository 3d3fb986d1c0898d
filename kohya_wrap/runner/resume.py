"""Resume a job: the state it continues from, and the overrides a resume may carry (run length, save and
sample cadence, limits); everything the saved state was trained with stays as it was."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.outcome import Outcome, replace
from kohya_wrap.job.resume import ResumePoint, find_resume_point

# key -> the section it lives in when job.toml does not have it yet
RESUMABLE = {
    "max_train_steps": "training", "max_train_epochs": "training",
    "save_every_n_steps": "saving", "save_every_n_epochs": "saving", "save_last_n_steps": "saving",
    "save_last_n_epochs": "saving", "save_last_n_steps_state": "saving", "save_last_n_epochs_state": "saving",
    "save_state": "saving", "save_state_on_train_end": "saving",
    "sample_every_n_steps": "sample", "sample_every_n_epochs": "sample", "sample_at_first": "sample",
    "sample_prompts": "sample", "sample_sampler": "sample",
    "max_cost_usd": "limits", "max_hours": "limits", "gpu_hourly_usd": "limits", "grace_seconds": "launch",
}
_PROVENANCE = re.compile(r"^#   (\S+) <- (.*)$")
_JOB = re.compile(r"\bJOB\b")


@dataclass
class ResumePlan:
    """Where a resumed run continues: the job folder, the state folder, where its new log starts, the config
    with the resume's overrides (None without overrides) and what they change, and how its steps are numbered."""

    job_dir: Path
    point: ResumePoint
    log_start: int
    config: object = None
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    step_offset: int = 0  # what the trainer's own step numbers need added (0 when it keeps the count)
    keep: list[str] = field(default_factory=list)  # LoRA files the run writes again, moved to attempts/<n>/ first
    attempt: int = 1


def resume_plan(ref: str, runs_dir: Path | None = None, overrides=()) -> ResumePlan:
    """The job a reference means, the latest state it can really resume from, and the checked overrides."""
    job_dir = jobfolder.find(ref, runs_dir)
    output_dir, _ = jobfolder.output_target(job_dir)
    point = find_resume_point(output_dir)
    log = job_dir / jobfolder.TRAIN_LOG
    plan = ResumePlan(job_dir, point, log.stat().st_size if log.exists() else 0)
    if overrides:
        plan.config, plan.changes = _with_overrides(job_dir, list(overrides))
    args = plan.config.args() if plan.config is not None else jobfolder.read_args(job_dir)
    _check_steps_left(job_dir, args, point)
    plan.step_offset, notes = counting(job_dir, args, point)
    plan.notes += notes
    plan.keep = overwritten(job_dir, restarts=plan.step_offset > 0)
    if plan.keep:
        from kohya_wrap.registry.queue import free_attempt

        plan.attempt = free_attempt(job_dir)
        plan.notes.append(f"{', '.join(Path(name).name for name in plan.keep)} will be written again: moved to "
                          f"attempts/{plan.attempt}/output/ before launch, keeping its model version")
    return plan


def overwritten(job_dir: Path, restarts: bool) -> list[str]:
    """The LoRA files (relative to the job folder) a resumed run writes again under the same name: the final
    one, and the step checkpoints too when the trainer counts from step 0 again."""
    output_dir, name = jobfolder.output_target(job_dir)
    try:
        output_dir.resolve().relative_to(job_dir.resolve())
    except ValueError:
        return []  # an output_dir outside the job folder is the user's place: sd-scripts writes there as ever
    files = [output_dir / f"{name}.safetensors"]
    if restarts:
        files += sorted(output_dir.glob(f"{glob.escape(name)}-step*.safetensors"))
    return [file.resolve().relative_to(job_dir.resolve()).as_posix() for file in files if file.is_file()]


def counting(job_dir: Path, args: dict, point: ResumePoint) -> tuple[int, list[str]]:
    """How the trainer will number a resumed run's steps: (the offset its own numbers need, notes).

    sd-scripts at the pin starts its counter at 0 again on --resume, so a step-bounded run would train
    max_train_steps MORE steps; vendor/patches/0003 makes it carry on from the state's step. An epoch-bounded
    run stops at its last epoch either way, so it resumes on either checkout."""
    from kohya_wrap.backend.patches import KEPT, RESTARTS, UNKNOWN, resume_counting

    root = jobfolder.read(job_dir).command.get("cwd")  # the checkout the job launches
    how = resume_counting(Path(root)) if root else UNKNOWN
    steps = args.get("max_train_steps")
    if how == KEPT or args.get("max_train_epochs") or not steps:
        left = f"steps {point.step + 1}-{steps}" if steps and not args.get("max_train_epochs") else "the epochs left"
        return (0 if how == KEPT else point.step), [f"this run trains {left} of the job"]
    if how == RESTARTS:
        raise KohyaWrapError(
            f"This sd-scripts checkout ({root}) starts its step counter at 0 again on --resume: resuming at step "
            f"{point.step} with max_train_steps={steps} would train {steps} more steps (to step "
            f"{point.step + int(steps)}), not the {int(steps) - point.step} left.",
            hint="apply kohya-wrap's patch that keeps the count (anchor-checked, revertible): "
                 "kohya-wrap backend patches --apply; then resume again")
    return point.step, [f"cannot tell whether the trainer at {root} keeps its step count on --resume (it is not "
                        f"sd-scripts' train_network.py at the pin): if it restarts at 0 it trains {steps} more steps"]


def _with_overrides(job_dir: Path, overrides: list[str]):
    from kohya_wrap.config.resolve import resolve

    job_toml = (job_dir / jobfolder.JOB_TOML).read_text(encoding="utf-8")
    data = jobfolder.read_toml(job_dir / jobfolder.JOB_TOML)
    texts, refused = [], []
    for text in overrides:
        removal = text.startswith("~")
        key, _, raw = text.lstrip("~").partition("=")
        key = key.strip()
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in RESUMABLE:
            refused.append(key)
            continue
        # a bare key (max_train_steps=6) goes where job.toml keeps it
        full = key if "." in key else f"{_section_of(data, leaf)}.{leaf}"
        texts.append(f"~{full}" if removal else f"{full}={raw}")
    if refused:
        message = (f"Cannot change {', '.join(refused)} on a resume: the saved state was trained with the job's "
                   "values (the network, optimizer, dataset and model must stay as they were).")
        raise KohyaWrapError(message, hint=f"a resume may change {', '.join(sorted(RESUMABLE))}; to change anything "
                             f"else start a new job from this one: kohya-wrap train {job_dir / jobfolder.JOB_TOML} "
                             f"{refused[0]}=...")
    config = resolve(str(job_dir / jobfolder.JOB_TOML), texts, check_model=False)
    config.preset = jobfolder.preset_of(job_toml) or config.preset
    config.requested_provenance = _keep_provenance(job_toml, config.requested_provenance or {}, texts)
    before, after = _flat(data), _flat(config.requested)
    changes = [f"{key}: {before.get(key)!r} -> {after.get(key)!r}" for key in RESUMABLE
               if before.get(key) != after.get(key)]
    return config, changes


def _flat(data: dict) -> dict:
    return {key: value for section in data.values() if isinstance(section, dict) for key, value in section.items()}


def _section_of(data: dict, leaf: str) -> str:
    """The section job.toml keeps LEAF in (sections are for readability; sd-scripts flattens them)."""
    for section, values in data.items():
        if isinstance(values, dict) and leaf in values:
            return section
    return RESUMABLE[leaf]


def _keep_provenance(job_toml: str, provenance: dict, texts: list[str]) -> dict:
    """Values read back from job.toml keep the source job.toml recorded for them; the overrides say so."""
    recorded = {}
    for line in job_toml.split("# Where each value came from:\n", 1)[-1].splitlines():
        match = _PROVENANCE.match(line)
        if match:
            recorded[match.group(1)] = match.group(2)
    kept = {key: recorded.get(key, where) if where.startswith(jobfolder.JOB_TOML) else where
            for key, where in provenance.items()}
    for text in texts:
        key = text.lstrip("~").partition("=")[0]
        if key in kept:
            kept[key] = f"override {text!r} on resume"
    return kept


def _check_steps_left(job_dir: Path, args: dict, point: ResumePoint) -> None:
    """sd-scripts asserts max_train_steps > the state's step only after the model has loaded: check it now."""
    steps = args.get("max_train_steps")
    if args.get("max_train_epochs") or steps is None or int(steps) > point.step:
        return
    raise KohyaWrapError(
        f"Nothing left to train: the state {point.state_dir.name} is at step {point.step} and max_train_steps is "
        f"{steps}.", hint=f"train further with e.g. kohya-wrap train --resume {job_dir.name} "
                          f"max_train_steps={point.step + max(point.step // 2, 1)}")


def apply_resume(plan: ResumePlan, registry=None) -> None:
    """Carry out a resume plan in the job folder: move aside the LoRA files the run writes again (their
    versions stay), then write the overrides into job.toml and what is rendered from it."""
    if plan.keep:
        from kohya_wrap.registry.db import open_registry
        from kohya_wrap.registry.jobs import register_folder
        from kohya_wrap.registry.queue import archive_attempt

        archive_attempt(plan.job_dir, plan.attempt, plan.keep)
        register_folder(registry or open_registry(), plan.job_dir)  # the moved files keep their versions
    if plan.config is None:
        return
    from kohya_wrap.config.render import render_job_toml, render_sample_prompts
    from kohya_wrap.runner.prepare import render_for_this_machine

    jobfolder.write_text(plan.job_dir, jobfolder.JOB_TOML, render_job_toml(plan.config))
    prompts = render_sample_prompts(plan.config)
    if prompts is not None:
        jobfolder.write_text(plan.job_dir, "sample_prompts.txt", prompts)
    render_for_this_machine(plan.job_dir)


def job_hint(hint: str, job_id: str) -> str:
    """The hint with the job's own id where the causes table says JOB (`kohya-wrap train --resume JOB`)."""
    return _JOB.sub(job_id, hint)


def for_job(outcome: Outcome, job_id: str) -> Outcome:
    """The outcome with job_hint applied."""
    if not outcome.hint or not _JOB.search(outcome.hint):
        return outcome
    return replace(outcome, hint=job_hint(outcome.hint, job_id))

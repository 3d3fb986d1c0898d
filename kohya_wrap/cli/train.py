"""`kohya-wrap train`: resolve, check, render and launch one training job (or show what would launch)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from kohya_wrap.cli.common import echo, CONTEXT_SETTINGS, overrides_argument
from kohya_wrap.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LIMIT

STATUS_EXIT = {"succeeded": 0, "failed": EXIT_FAILED, "cancelled": EXIT_INTERRUPTED, "stopped": EXIT_LIMIT,
               "lost": EXIT_FAILED}


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("preset", required=False)
@overrides_argument
@click.option("--dataset", type=click.Path(path_type=Path, exists=True, file_okay=False), help="Training images folder.")
@click.option("--reg", type=click.Path(path_type=Path, exists=True, file_okay=False), help="Regularisation images.")
@click.option("--model", type=click.Path(path_type=Path), help="SDXL base checkpoint (.safetensors).")
@click.option("--name", help="Job and LoRA name (default: the preset's name).")
@click.option("--example", is_flag=True, help="Use the built-in example dataset (six shapes).")
@click.option("--dry-run", is_flag=True, help="Render the job folder and print the command; launch nothing.")
@click.option("--resume", "resume_job", help="Continue JOB from its latest saved state.")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path, resolve_path=True),
              help="Where job folders go.")  # absolute: the trainer runs in the backend's folder
@click.option("--over-limit", "force", is_flag=True, help="Start even if the estimate is over [limits] (the guards still stop the run at the limit).")
@click.option("--gpu", "gpu_name", metavar="NAME", help="GPU the estimate is for (4090, h100, ...; default: this "
              "machine's, else the preset's meta.vram_gb).")
def train(preset, overrides, dataset, reg, model, name, example, dry_run, resume_job, runs_dir, force, gpu_name):
    """Train a LoRA: PRESET (name or .toml file, e.g. a job's job.toml) plus KEY=VALUE overrides.

    A job's job.toml names its dataset and model: `train <job>/job.toml` re-runs that job from its folder
    alone. Without a backend or a model, --example renders the job folder and prints exactly what would
    launch. --resume continues a job from its latest saved state; it takes the overrides that extend or
    watch a run (max_train_steps, max_train_epochs, save_* and sample_* cadence, limits) and refuses the
    others. Before launch it shows where the LoRA goes, the disk the run needs, and the time, cost and VRAM
    estimates with their basis.

    \b
    Example:
      kohya-wrap train sdxl-style --example
      kohya-wrap train sdxl-pixel-art-fast --dataset ./data --model base.safetensors network.network_dim=8
      kohya-wrap train ~/.kohya-wrap/runs/20261121-083000-sdxl-style-1a2b/job.toml
      kohya-wrap train --resume 20261121-083000-sdxl-style-1a2b max_train_steps=4000 --dry-run
    """
    from kohya_wrap.runner import train as train_flow

    if resume_job:
        _resume(resume_job, (preset, *overrides) if preset else overrides, runs_dir=runs_dir, dry_run=dry_run,
                force=force)
        return
    if not preset:
        raise click.UsageError("give a PRESET (or --resume JOB)")
    own_dataset, own_model = train_flow.source_paths(preset)
    if example:
        from kohya_wrap import paths

        dataset = dataset or paths.example_dataset_dir()
    if dataset is None and own_dataset is None:
        raise click.UsageError("give --dataset DIR (or --example for the built-in example)")
    model_given = model or own_model
    dry_run = dry_run or train_flow.must_dry_run(example, model_given)
    prepared = train_flow.prepare(preset, overrides, dataset=dataset, reg=reg, model=model, name=name,
                                  runs_dir=runs_dir, dry_run=dry_run, progress=_check_progress())
    _show_plan(prepared)
    _show_outlook(train_flow.outlook(prepared.job_dir, prepared.step_plan, gpu=gpu_name))
    if dry_run or prepared.spec is None:
        reason = train_flow.dry_run_reason(dry_run, prepared, model_given)
        removed = train_flow.finish_dry_run(prepared, reason, source=preset)
        if removed:
            echo(f"Removed {len(removed)} earlier dry-run folder{'s' if len(removed) != 1 else ''} of this job "
                       "name (never launched).")
        echo(f"Stopping here: {reason}")
        return
    result = _run(prepared.job_dir, force=force)
    raise SystemExit(STATUS_EXIT.get(result.outcome.status, EXIT_FAILED))


def _resume(job: str, overrides, *, runs_dir, dry_run: bool, force: bool) -> None:
    """--resume: the state it continues from, the overrides it carries; --dry-run shows it and launches nothing."""
    from kohya_wrap.runner import train as train_flow

    resume = train_flow.resume_plan(job, runs_dir=runs_dir, overrides=overrides)
    point = resume.point
    echo(f"Resuming {resume.job_dir.name} from {point.state_dir.name} (step {point.step}, epoch {point.epoch})")
    for change in resume.changes:
        echo(f"  change: {change}")
    for note in resume.notes:
        echo(f"  note: {note}")
    if dry_run:
        _show_resume_command(resume)
        echo("Stopping here: --dry-run. Nothing was launched and the job folder is unchanged.")
        return
    train_flow.apply_resume(resume)
    result = _run(resume.job_dir, force=force, resume=resume)
    raise SystemExit(STATUS_EXIT.get(result.outcome.status, EXIT_FAILED))


def _show_resume_command(resume) -> None:
    import json

    command = resume.job_dir / "command.json"
    if not command.is_file():
        echo("  (no command.json: the job was rendered without a backend)")
        return
    argv = json.loads(command.read_text(encoding="utf-8"))["argv"] + ["--resume", str(resume.point.state_dir)]
    echo("Command:")
    echo("  " + " ".join(shlex.quote(part) for part in argv))
    if resume.changes:
        echo("  (job.toml, args.toml and command.json are re-rendered with the changes above before launch)")


def _run(job_dir: Path, *, force: bool, resume=None):
    """The limits plan, then the run with the live progress view, then what happened."""
    from kohya_wrap.cli.progress import ProgressView
    from kohya_wrap.runner import train as train_flow

    plan = train_flow.plan(job_dir, force=force, resume=resume)
    if plan.limited:
        echo(f"Estimate: {plan.estimate.basis}")
        for warning in plan.warnings:
            echo(f"  warning: {warning}")
    view = ProgressView(cost=plan.cost_guard)
    try:
        result = train_flow.run(job_dir, plan, sinks=[view], on_progress=view.progress, resume=resume)
    finally:
        view.close()
    if result.resume_check is not None:
        loaded, detail = result.resume_check
        echo(("  " if loaded else "  WARNING: ") + detail)
    _show_outcome(result)
    return result


def _show_outcome(result) -> None:
    outcome = result.outcome
    line = f"Result: {outcome.status}" + (f" ({outcome.cause})" if outcome.cause else "")
    echo(line + (f": {outcome.message}" if outcome.message else ""))
    if outcome.hint:
        echo(f"  hint: {outcome.hint}")
    for output in result.outputs:
        echo(f"  output: {output.get('path')} ({output.get('bytes')} bytes)")
    echo(f"  report: {result.report}")
    if result.lora is not None:
        echo(f"LoRA: {result.lora}")


def _check_progress():
    """'checking dataset: 120/3000' on a terminal while every image and caption is checked; nothing otherwise."""
    import sys

    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        echo(f"\rchecking dataset: {done}/{total}", nl=False, err=True)
        if end:
            echo("", err=True)

    return show


def _show_plan(prepared) -> None:
    echo(f"Job folder: {prepared.job_dir}")
    for line in _grouped_findings(prepared.findings):
        echo(f"  {line}")
    for note in prepared.notes:
        echo(f"  note: {note}")
    if prepared.preview:
        echo(f"  {prepared.preview}")
    if prepared.spec is not None:
        echo("Command:")
        echo("  " + " ".join(shlex.quote(part) for part in prepared.spec.argv))
        echo("  env: " + " ".join(f"{key}={value}" for key, value in sorted(prepared.spec.env.items())))
        echo(f"  cwd: {prepared.spec.cwd}")
    else:
        echo("Command (once a backend is configured):")
        echo("  " + " ".join(shlex.quote(part) for part in prepared.placeholder_argv))


def _show_outlook(view) -> None:
    """Where the LoRA goes, the disk the run needs, and the estimates, each with its basis."""
    from kohya_wrap.cli.display import duration
    from kohya_wrap.runner.disk import human

    echo(f"LoRA will be written to: {view.lora_path}")
    free = f"; {human(view.free_bytes)} free there" if view.free_bytes is not None else ""
    echo(f"Disk: about {human(view.disk_bytes)} ({view.disk_parts}){free}")
    estimate = view.estimate
    if estimate is not None and estimate.seconds is not None:
        cost = f", {estimate.cost:.2f} USD" if estimate.cost is not None else ""
        echo(f"Time: about {duration(estimate.seconds)}{cost} (basis: {estimate.basis})")
    elif estimate is not None:
        echo(f"Time: not estimated from earlier runs ({estimate.basis})")
    p = view.prediction
    if p is not None:
        when = f"{duration(p.total_seconds)}" if p.total_seconds else "no time (no throughput for it)"
        cost = f", {p.cost_usd:.2f} USD" if p.cost_usd is not None else ""
        echo(f"Predicted on {p.gpu['name']}: peak VRAM {p.peak_vram_gib:.1f} GiB of {p.gpu['memory_gib']:g} "
                   f"({p.verdict.replace('_', ' ')}), {when}{cost}")
        echo(f"  basis: VRAM {p.basis['peak_vram_gib']}; speed {p.basis['s_per_it']}")
    if view.gpu_note:
        echo(f"  note: {view.gpu_note}")


def _grouped_findings(findings) -> list[str]:
    """One line per kind of finding, with a count and an example file, so 500 small images are one line."""
    groups: dict[tuple, list] = {}
    for finding in findings:
        if finding.severity != "info":
            groups.setdefault((finding.severity, finding.code), []).append(finding)
    lines = []
    for (severity, _code), items in groups.items():
        first = items[0]
        where = Path(first.path).name if first.path else ""
        more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
        lines.append(f"{severity}: {where}: {first.message}{more}")
    return lines

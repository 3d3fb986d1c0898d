"""What a dry run shows besides the command (where the LoRA goes, disk, time, cost, VRAM), and dry-run folders
that are marked as such and do not pile up."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.meta import DRY_RUN_KEY, is_dry_run, update_meta

__all__ = ["DRY_RUN_KEY", "is_dry_run"]

# registry.json of a folder rendered by a dry run: {"dry_run": {"at": <unix time>}}; never launched


@dataclass
class RunOutlook:
    """Before launch: the files the run writes, the disk it needs, and how long, how much and how much VRAM."""

    lora_path: Path
    disk_bytes: int
    disk_parts: str
    free_bytes: int | None
    estimate: object = None  # limits.estimate.Estimate: time and cost from earlier runs (or the prediction)
    prediction: object = None  # estimate.predict.Estimate: peak VRAM, s/it, time, cost on a GPU
    gpu_note: str = ""
    notes: list[str] = field(default_factory=list)


def outlook(job_dir: Path, step_plan, *, gpu: str | None = None, registry=None) -> RunOutlook:
    """Everything a person wants to know before paying for the run, each number with its basis."""
    from kohya_wrap.runner.disk import estimate_disk_use, free_bytes
    from kohya_wrap.runner.plan import estimate_job

    job_dir = Path(job_dir).resolve()
    folder = jobfolder.read(job_dir)
    args = jobfolder.read_args(job_dir)
    output_dir, name = jobfolder.output_target(job_dir)
    prompts = args.get("sample_prompts")
    lines = _prompt_lines(Path(prompts)) if isinstance(prompts, str) else 1
    width, height = (int(side) for side in str(args.get("resolution", "1024,1024")).split(","))
    disk = estimate_disk_use(args, steps=step_plan.total_steps, epochs=step_plan.epochs, resolution=(width, height),
                             prompts=lines)
    view = RunOutlook(lora_path=Path(output_dir).resolve() / f"{name}.safetensors", disk_bytes=disk.total_bytes,
                      disk_parts=disk.describe(), free_bytes=free_bytes(job_dir))
    view.estimate = estimate_job(registry, job_dir, force=True).estimate
    view.prediction, view.gpu_note = _prediction(folder, gpu or folder.gpu_name)
    return view


def _prompt_lines(path: Path) -> int:
    try:
        return max(1, sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()))
    except OSError:
        return 1


def _prediction(folder, gpu_name: str | None):
    """kohya-wrap estimate's analytic prediction (no trace: the dry run stays fast) for the GPU the run is for:
    the one named, else this machine's, else the preset's meta.vram_gb (memory only)."""
    from kohya_wrap.errors import KohyaWrapError
    from kohya_wrap.estimate import gpus
    from kohya_wrap.estimate.make import make_estimate

    if gpu_name:
        try:
            gpu, note = gpus.lookup(gpu_name), ""
        except KohyaWrapError as error:
            return None, f"{error.message} (see `kohya-wrap estimate --gpus`)"
    elif folder.config.get("meta", {}).get("vram_gb"):
        vram = float(folder.config["meta"]["vram_gb"])
        gpu = gpus.generic(vram)
        note = f"judged against the preset's meta.vram_gb ({vram:g} GB); pass --gpu NAME for time and cost on it"
    else:
        return None, "no GPU to predict for: pass --gpu NAME"
    return make_estimate(folder.config, gpu, allow_trace=False, suggest=False), note


def mark_dry_run(job_dir: Path, reason: str) -> None:
    """Record in the folder itself that it was rendered and never launched."""
    update_meta(job_dir, **{DRY_RUN_KEY: {"at": time.time(), "reason": reason}})


def prune_dry_runs(job_dir: Path, spare: Path | None = None) -> list[Path]:
    """Remove the earlier dry-run folders of the same job name beside JOB_DIR (the newest stays, and SPARE, the
    folder whose job.toml this run came from); returns them."""
    job_dir = Path(job_dir).resolve()
    keep = {job_dir} | ({Path(spare).resolve()} if spare else set())
    name = jobfolder.name_of(job_dir.name)
    removed = []
    for other in sorted(job_dir.parent.iterdir()):
        ours = jobfolder.name_of(other.name) != other.name  # a job id, not a folder of the user's
        if other.resolve() not in keep and ours and other.is_dir() and jobfolder.name_of(other.name) == name \
                and is_dry_run(other):
            shutil.rmtree(other)
            removed.append(other)
    return removed

"""Disk space: how much a run will write (a pure estimate), how much is free, and what a failed write means."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.paths import DISK_FULL_ERRNOS, READ_ONLY_ERRNOS

# LoRA weights per unit of rank, counted from the header of a real SDXL LoRA (tests/fixtures/sdxl-cpu-run:
# rank 4, 722 U-Net modules, 10,639,360 weights) and from the text encoders' linear layers (CLIP-L: 12 layers,
# CLIP-bigG: 32 layers; q, k, v, out, fc1, fc2 each: 264 modules).
UNET_PARAMS_PER_RANK = 2_659_840
TEXT_ENCODER_PARAMS_PER_RANK = 12 * (4 * 2 * 768 + 2 * (768 + 3072)) + 32 * (4 * 2 * 1280 + 2 * (1280 + 5120))
# Optimizer state bytes per trained weight that accelerate's save_state writes (besides the fp32 weights).
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adamw8bit": 2, "pagedadamw8bit": 2, "lion": 4, "lion8bit": 1,
                         "adafactor": 1, "prodigy": 16, "dadaptadam": 12, "sgdnesterov": 4, "came": 8}
SAMPLE_BYTES_PER_PIXEL = 1.5  # a PNG of a generated sample, measured on SDXL samples: 1-1.5 bytes/pixel
LOG_MARGIN_BYTES = 32 << 20  # train.log, events, TensorBoard, reports


@dataclass(frozen=True)
class DiskEstimate:
    """Bytes a run will write into its job folder, part by part."""

    total_bytes: int
    parts: list[tuple[str, int, int]] = field(default_factory=list)  # (what, how many, bytes each)

    def describe(self) -> str:
        return ", ".join(f"{count} x {what} of {human(each)}" for what, count, each in self.parts if count)


def lora_weights(args: dict) -> int:
    """Trained weights of the LoRA: rank x the modules it attaches to (the U-Net, and the text encoders
    unless network_train_unet_only)."""
    rank = int(args.get("network_dim") or 4)
    per_rank = UNET_PARAMS_PER_RANK + (0 if args.get("network_train_unet_only") else TEXT_ENCODER_PARAMS_PER_RANK)
    return rank * per_rank


def _checkpoints(args: dict, steps: int, epochs: int, state: bool) -> int:
    """How many checkpoints (or states) stay on disk: the final one plus those every N steps (the last step
    included) and every N epochs (the last epoch not), less what save_last_n_* removes (the *_state variants
    override them for states)."""
    suffix = "_state" if state else ""
    count = 1
    every = args.get("save_every_n_steps")
    if every:
        last = args.get(f"save_last_n_steps{suffix}") or args.get("save_last_n_steps")
        count += _kept_stepwise(steps // every, every, last)
    every = args.get("save_every_n_epochs")
    if every:
        kept = max(epochs - 1, 0) // every
        last = args.get(f"save_last_n_epochs{suffix}") or args.get("save_last_n_epochs")
        count += min(kept, last) if last else kept
    return count


def _kept_stepwise(saves: int, every: int, last: int | None) -> int:
    """Of SAVES checkpoints every EVERY steps, those left: at each save sd-scripts removes the one LAST + 1 steps
    back, rounded down to a save (train_util.get_remove_step_no)."""
    if not last:
        return saves
    return saves - max(0, (saves * every - last - 1) // every)


def estimate_disk_use(args: dict, *, steps: int, epochs: int, resolution: tuple[int, int],
                      prompts: int = 1) -> DiskEstimate:
    """What a run with these sd-scripts arguments writes: LoRA checkpoints, saved states, sample images, logs."""
    weights = lora_weights(args)
    width = 2 if str(args.get("save_precision") or "float") in ("fp16", "bf16") else 4
    lora_bytes = weights * width + 64 * 1024  # + the header and metadata
    parts = [("LoRA file", _checkpoints(args, steps, epochs, state=False), lora_bytes)]
    if args.get("save_state") or args.get("save_state_on_train_end"):
        optimizer = str(args.get("optimizer_type") or "adamw").lower().replace("_", "")
        state_bytes = weights * (4 + OPTIMIZER_STATE_BYTES.get(optimizer, 8)) + (1 << 20)
        states = _checkpoints(args, steps, epochs, state=True) if args.get("save_state") else 1
        parts.append(("saved state", states, state_bytes))
    samples = 0
    if args.get("sample_prompts"):
        every_steps, every_epochs = args.get("sample_every_n_steps"), args.get("sample_every_n_epochs")
        samples = (steps // every_steps if every_steps else 0) + (epochs // every_epochs if every_epochs else 0)
        samples = (samples + (1 if args.get("sample_at_first") else 0)) * max(prompts, 1)
    parts.append(("sample image", samples, int(resolution[0] * resolution[1] * SAMPLE_BYTES_PER_PIXEL)))
    parts.append(("logs and reports", 1, LOG_MARGIN_BYTES))
    return DiskEstimate(sum(count * each for _, count, each in parts), parts)


def free_bytes(path: Path) -> int | None:
    """Free space for this user on the filesystem holding PATH (its nearest existing parent); None if unknown."""
    path = Path(path)
    existing = next((p for p in [path, *path.parents] if p.exists()), None)
    try:
        return shutil.disk_usage(existing).free if existing is not None else None
    except OSError:
        return None


def human(count: int | float | None) -> str:
    """Bytes as B, KiB, MiB or GiB."""
    if count is None:
        return "unknown"
    exponent = min(int(math.log(max(abs(count), 1), 1024)), 3)
    unit = ("B", "KiB", "MiB", "GiB")[exponent]
    return f"{count} B" if exponent == 0 else f"{count / 1024 ** exponent:.1f} {unit}"


def write_failure(error: BaseException, folder: Path) -> tuple[str, str] | None:
    """(cause, message) when ERROR is a write the place refused: disk full, or read-only / no permission."""
    number = getattr(error, "errno", None)
    if not isinstance(error, OSError) or number not in DISK_FULL_ERRNOS | READ_ONLY_ERRNOS:
        return None
    where = getattr(error, "filename", None) or folder
    if number in DISK_FULL_ERRNOS:
        return "disk_full", f"the disk is full: {human(free_bytes(Path(folder)))} free in {folder} (writing {where})"
    return "read_only", f"cannot write {where}: {error.strerror or error} (read-only filesystem or no permission)"

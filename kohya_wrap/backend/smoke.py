"""`doctor --smoke`: a random-initialised full-size SDXL checkpoint and a real 2-step LoRA training run."""

from __future__ import annotations

import json
import struct
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from kohya_wrap import paths
from kohya_wrap.backend.locate import Backend
from kohya_wrap.backend.platform import script_argv
from kohya_wrap.errors import BackendError

BUILD_SCRIPT = Path(__file__).with_name("_build_sdxl.py")
CHECKPOINT_NAME = "sdxl_random_fp16.safetensors"
CHECKPOINT_TENSORS = 2514  # U-Net, both CLIP text encoders and the VAE in the original single-file layout
CHECKPOINT_PREFIXES = ("model.diffusion_model.", "conditioner.embedders.0.transformer.",
                       "conditioner.embedders.1.model.", "first_stage_model.")
SEED = 1234
Progress = Callable[[str], None]


def default_checkpoint() -> Path:
    return paths.cache_dir() / "smoke" / CHECKPOINT_NAME


def read_safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (tensor index plus __metadata__)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > 100 * 2**20:
            raise ValueError(f"header of {length} bytes is not plausible")
        return json.loads(handle.read(length))


def checkpoint_problem(path: Path) -> str | None:
    """Why `path` is not a usable random SDXL checkpoint, or None if it is."""
    try:
        header = read_safetensors_header(path)
    except (OSError, ValueError, struct.error) as error:
        return f"cannot read {path}: {error}"
    tensors = {key: value for key, value in header.items() if key != "__metadata__"}
    if len(tensors) != CHECKPOINT_TENSORS:
        return f"{path} has {len(tensors)} tensors, a full SDXL checkpoint has {CHECKPOINT_TENSORS}"
    missing = [p for p in CHECKPOINT_PREFIXES if not any(key.startswith(p) for key in tensors)]
    return f"{path} lacks {', '.join(missing)}" if missing else None


def build_random_checkpoint(backend: Backend, path: Path | None = None, progress: Progress = print,
                            seed: int = SEED) -> dict:
    """Reuse a valid checkpoint at `path`, else build one with the backend's own model code (~90 s, ~14 GB)."""
    path = Path(path or default_checkpoint()).expanduser().resolve()
    if path.is_file() and checkpoint_problem(path) is None:
        return {"path": str(path), "reused": True, "bytes": path.stat().st_size, "seconds": 0.0}
    path.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building a random-initialised SDXL checkpoint at {path} (seed {seed}; about 90 s and 14 GB RAM on CPU)")
    started = time.time()
    child = subprocess.Popen(script_argv(backend.python, BUILD_SCRIPT, [str(backend.root), str(path), str(seed)]),
                             cwd=backend.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in child.stdout:
        lines.append(line.rstrip("\n"))
        if not lines[-1].startswith("{"):
            progress("  " + lines[-1])
    if child.wait() != 0 or not lines or not lines[-1].startswith("{"):
        raise BackendError(f"Building the random SDXL checkpoint failed (exit {child.returncode}): "
                           + " | ".join(lines[-4:]), hint="run `kohya-wrap doctor` to check the backend's packages")
    result = json.loads(lines[-1])
    return {**result, "reused": False, "seconds": round(time.time() - started, 1)}


@dataclass
class SmokeResult:
    ok: bool
    job_dir: str
    exit_code: int | None
    status: str | None = None
    lora: str | None = None
    ss_steps: str | None = None
    lora_tensors: int = 0
    seconds: float = 0.0
    peak_rss_gib: float | None = None
    steps_seen: int = 0
    substitutions: list[str] = field(default_factory=list)
    checkpoint: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


SMOKE_IMAGES = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}


def write_dataset(folder: Path, size: int) -> Path:
    """Four flat-colour images with captions in the folder-repeat layout (2 repeats)."""
    from PIL import Image

    images = folder / "2_smoke"
    images.mkdir(parents=True, exist_ok=True)
    for name, colour in SMOKE_IMAGES.items():
        Image.new("RGB", (size, size), colour).save(images / f"{name}.png")
        (images / f"{name}.txt").write_text(f"smoke, a flat {name} square", encoding="utf-8")
    return images


def smoke_overrides(steps: int, size: int, threads: int) -> list[str]:
    """Overrides of the sdxl-style preset for the smallest real run: rank 4, batch 1, no saves but the final."""
    return [
        "platform.allow_cpu=true", "saving.output_name=smoke_lora", "network.network_dim=4",
        "network.network_alpha=4.0", f"dataset.resolution={size}", f"dataset.min_bucket_reso={size // 2}",
        f"dataset.max_bucket_reso={size * 2}", "dataset.batch_size=1", f"training.max_train_steps={steps}",
        "saving.save_every_n_steps=100000", "~saving.save_state", "optimizer.lr_warmup_steps=0",
        "optimizer.lr_scheduler=constant", "training.max_data_loader_n_workers=0",
        "~training.persistent_data_loader_workers", f"launch.num_cpu_threads_per_process={threads}",
    ]


def check_run(result: SmokeResult, events: list[dict], lora: Path, steps: int) -> None:
    """The run succeeded, its events reached `steps` without errors, and the LoRA says it trained that long."""
    if result.status != "succeeded":
        result.problems.append(f"the run ended {result.status} (exit {result.exit_code})")
    for event in events:
        if event.get("type") == "error":
            result.problems.append(f"{event.get('kind')}: {event.get('message')}")
    result.steps_seen = max([event.get("step") or 0 for event in events if event.get("type") == "step"] + [0])
    if result.steps_seen < steps:
        result.problems.append(f"the events show {result.steps_seen} of {steps} steps")
    if not lora.is_file():
        result.problems.append(f"no LoRA was saved at {lora}")
        return
    try:
        header = read_safetensors_header(lora)
    except (OSError, ValueError, struct.error) as error:
        result.problems.append(f"cannot read the LoRA header: {error}")
        return
    result.lora = str(lora)
    result.ss_steps = header.get("__metadata__", {}).get("ss_steps")
    result.lora_tensors = sum(1 for key in header if key.startswith("lora_unet_"))
    if result.ss_steps != str(steps):
        result.problems.append(f"LoRA metadata ss_steps is {result.ss_steps!r}, expected {steps}")
    if result.lora_tensors == 0:
        result.problems.append("the LoRA file has no lora_unet_* tensors")

"""`doctor --smoke`: a random-initialised full-size SDXL checkpoint and a real 2-step LoRA training run."""

from __future__ import annotations

import json
import os
import re
import resource
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


def smoke_args(job_dir: Path, model: Path, tokenizers: Path, steps: int) -> dict:
    """sd-scripts arguments for the smoke run, before the platform profile adapts them."""
    return {
        "pretrained_model_name_or_path": str(model), "tokenizer_cache_dir": str(tokenizers), "sdpa": True,
        "no_half_vae": True, "dataset_config": str(job_dir / "dataset.toml"), "max_data_loader_n_workers": 0,
        "cache_latents": True, "cache_text_encoder_outputs": True, "network_module": "networks.lora",
        "network_dim": 4, "network_alpha": 4.0, "network_train_unet_only": True, "mixed_precision": "bf16",
        "gradient_checkpointing": True, "optimizer_type": "AdamW", "learning_rate": 1e-4,
        "lr_scheduler": "constant", "max_train_steps": steps, "seed": 42, "output_dir": str(job_dir / "output"),
        "output_name": "smoke_lora", "save_model_as": "safetensors", "save_precision": "fp16",
    }


def write_job(job_dir: Path, args: dict, images: Path, size: int, use_cpu: bool) -> None:
    import tomli_w
    import yaml

    dataset = {"general": {"caption_extension": ".txt", "shuffle_caption": False},
               "datasets": [{"resolution": size, "batch_size": 1, "enable_bucket": False,
                             "subsets": [{"image_dir": str(images), "num_repeats": 2}]}]}
    (job_dir / "dataset.toml").write_text(tomli_w.dumps(dataset), encoding="utf-8")
    (job_dir / "args.toml").write_text(tomli_w.dumps({"smoke": args}), encoding="utf-8")
    accelerate = {"compute_environment": "LOCAL_MACHINE", "debug": False, "distributed_type": "NO",
                  "downcast_bf16": "no", "machine_rank": 0, "main_training_function": "main",
                  "mixed_precision": args.get("mixed_precision", "no"), "num_machines": 1, "num_processes": 1,
                  "rdzv_backend": "static", "same_network": True, "use_cpu": use_cpu}
    (job_dir / "accelerate.yaml").write_text(yaml.safe_dump(accelerate), encoding="utf-8")


STEP_PATTERN = re.compile(rb"steps:\s+\d+%[^\r\n]*?\|\s*(\d+)/(\d+)")


def run_smoke(backend: Backend, facts, model: Path | None = None, job_dir: Path | None = None, steps: int = 2,
              size: int = 256, progress: Progress = print, tokenizer_dir: Path | None = None,
              vocab: Path | None = None) -> SmokeResult:
    """Train a LoRA for `steps` steps through the real trainer and check what it wrote."""
    from kohya_wrap.backend.platform import apply_profile
    from kohya_wrap.backend.tokenizers import ensure_tokenizer_cache
    from kohya_wrap.launch.spec import build_spec

    job_dir = Path(job_dir or paths.cache_dir() / "smoke" / time.strftime("run-%Y%m%d-%H%M%S")).resolve()
    job_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = build_random_checkpoint(backend, model, progress)
    tokenizers = ensure_tokenizer_cache(tokenizer_dir, vocab, backend.python)
    images = write_dataset(job_dir / "train", size)
    args, subs = apply_profile(facts, smoke_args(job_dir, Path(checkpoint["path"]), tokenizers, steps))
    for sub in subs:
        progress("profile: " + sub.line())
    write_job(job_dir, args, images, size, use_cpu=not facts.cuda_available)
    extra_env = {"KOHYA_WRAP_BACKEND_COMMIT": backend.commit} if backend.commit else {}
    spec = build_spec(python=backend.python, backend_root=backend.root, job_dir=job_dir,
                      num_cpu_threads_per_process=os.cpu_count() or 1, extra_env=extra_env,
                      backend_commit=backend.commit, platform=facts.to_dict(), substitutions=[s.line() for s in subs])
    (job_dir / "command.json").write_text(spec.to_json(), encoding="utf-8")
    progress(f"training {steps} steps at {size} px in {job_dir} (log: train.log)")
    result = SmokeResult(ok=False, job_dir=str(job_dir), exit_code=None, substitutions=[s.line() for s in subs],
                         checkpoint=checkpoint)
    _train(spec, job_dir / "train.log", result, progress)
    check_outputs(job_dir, args, steps, result)
    result.ok = not result.problems
    return result


def _train(spec, log_path: Path, result: SmokeResult, progress: Progress) -> None:
    from kohya_wrap.launch import process

    rss_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.time()
    child = process.start(spec)
    try:
        with process.append_raw(log_path) as log:
            while chunk := os.read(child.stdout.fileno(), 65536):
                log.write(chunk)
                seen = [int(match.group(1)) for match in STEP_PATTERN.finditer(chunk)]
                if seen and max(seen) > result.steps_seen:
                    result.steps_seen = max(seen)
                    progress(f"  step {result.steps_seen} at {time.time() - started:.0f}s")
        result.exit_code = child.wait()
    except KeyboardInterrupt:
        process.stop_group(child.pid, grace_s=10)
        raise
    finally:
        process.kill_leftovers(child.pid)
    result.seconds = round(time.time() - started, 1)
    rss_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result.peak_rss_gib = round(rss_after / 2**20, 1) if rss_after > rss_before else None  # kB on Linux


def check_outputs(job_dir: Path, args: dict, steps: int, result: SmokeResult) -> None:
    """The LoRA exists, has LoRA tensors and says it was trained for `steps` steps; the log shows no trouble."""
    log = (job_dir / "train.log").read_bytes() if (job_dir / "train.log").is_file() else b""
    if result.exit_code != 0:
        result.problems.append(f"trainer exited with {result.exit_code}; see {job_dir / 'train.log'}")
    # Recount from the whole log: a progress line can straddle two chunks of the live stream.
    result.steps_seen = max([int(m.group(1)) for m in STEP_PATTERN.finditer(log)] + [result.steps_seen])
    if b"No data found" in log:
        result.problems.append("sd-scripts found no training data (it exits 0 in that case)")
    if b"Traceback (most recent call last)" in log:
        result.problems.append("the log holds a Python traceback")
    lora = Path(args["output_dir"]) / f"{args['output_name']}.safetensors"
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
    if result.steps_seen < steps:
        result.problems.append(f"the log shows {result.steps_seen} of {steps} steps")

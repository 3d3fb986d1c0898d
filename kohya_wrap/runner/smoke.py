"""`doctor --smoke`: a real short LoRA training on a random full-size SDXL checkpoint, through the runner."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.backend.smoke import (Progress, SmokeResult, build_random_checkpoint, check_run, smoke_overrides,
                                      write_dataset)
from kohya_wrap.backend.tokenizers import ensure_tokenizer_cache
from kohya_wrap.runner.prepare import prepare
from kohya_wrap.runner.supervise import run_job


def run_smoke(backend, model: Path | None = None, steps: int = 2, size: int = 256, progress: Progress = print,
              vocab: Path | None = None) -> SmokeResult:
    """Build (or reuse) the checkpoint, then prepare and run a real job like `train` does, and check it."""
    checkpoint = build_random_checkpoint(backend, model, progress)
    ensure_tokenizer_cache(vocab=vocab, python=backend.python)
    root = paths.cache_dir() / "smoke" / time.strftime("run-%Y%m%d-%H%M%S")
    write_dataset(root / "train", size)
    prepared = prepare("sdxl-style", smoke_overrides(steps, size, os.cpu_count() or 1), dataset=root / "train",
                       model=Path(checkpoint["path"]), name="smoke", runs_dir=root)
    for note in prepared.notes:
        progress(f"profile: {note}")
    progress(f"training {steps} steps at {size} px in {prepared.job_dir} (log: train.log)")
    started = time.time()
    outcome = run_job(prepared.job_dir, on_event=_announce(progress, started))
    result = SmokeResult(ok=False, job_dir=str(prepared.job_dir), exit_code=outcome.exit_code, status=outcome.status,
                         seconds=round(time.time() - started, 1), peak_rss_gib=_children_peak_gib(),
                         substitutions=list(prepared.spec.substitutions), checkpoint=checkpoint)
    events = [json.loads(line) for line in (prepared.job_dir / jobfolder.EVENTS).read_text().splitlines()]
    check_run(result, events, prepared.job_dir / "output" / "smoke_lora.safetensors", steps)
    result.ok = not result.problems
    return result


def _announce(progress: Progress, started: float):
    def on_event(event: dict) -> None:
        if event.get("type") == "step":
            progress(f"  step {event['step']}/{event.get('total')} at {time.time() - started:.0f}s")
        elif event.get("type") == "error":
            progress(f"  error: {event.get('message')}")
    return on_event


def _children_peak_gib() -> float:
    """Peak RSS of the largest child waited for (the trainer), in GiB (ru_maxrss is kB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 1)

"""A tiny SDXL world for the validate tests: base pipeline, a job folder with LoRAs and a dataset, a CLIP folder."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.validate import tiny_sdxl

PYTHON = os.environ.get("KOHYA_WRAP_PYTHON") or sys.executable  # the child runs here
PROMPTS = "shape, a red circle --n blurry, lowres --w 64 --h 64\nshape, a blue square on white\n"
CAPTIONS = ("shape, a red circle", "shape, a green square", "shape, a yellow triangle")


@dataclass
class Tiny:
    root: Path
    base: Path
    job: Path
    final: Path  # the job's final LoRA
    step: Path  # an intermediate save of the same job (different weights)
    zero: Path  # a LoRA whose up weights are zero: it changes nothing
    modules: dict
    clip: Path


def write_job(job: Path, base: Path) -> None:
    """A job folder as kohya-wrap renders one: args.toml, dataset.toml, sample prompts, a small dataset."""
    from PIL import Image

    data = job / "data" / "3_shape"
    data.mkdir(parents=True)
    for n, caption in enumerate(CAPTIONS):
        colour = [(200, 30, 30), (30, 160, 60), (220, 200, 20)][n]
        Image.new("RGB", (64, 64), colour).save(data / f"{n}.png")
        (data / f"{n}.txt").write_text(caption + "\n", encoding="utf-8")
    (job / "sample_prompts.txt").write_text(PROMPTS, encoding="utf-8")
    (job / "args.toml").write_text(
        f'[model]\npretrained_model_name_or_path = "{base}"\n\n[saving]\noutput_name = "shape_lora"\n\n'
        f'[kohya_wrap]\ndataset_config = "{job / "dataset.toml"}"\noutput_dir = "{job / "output"}"\n'
        f'sample_prompts = "{job / "sample_prompts.txt"}"\n', encoding="utf-8")
    (job / "dataset.toml").write_text(
        f'[general]\ncaption_extension = ".txt"\n\n[[datasets]]\nresolution = [64, 64]\n\n'
        f'[[datasets.subsets]]\nimage_dir = "{data}"\nnum_repeats = 3\nclass_tokens = "shape"\n', encoding="utf-8")
    (job / "job.toml").write_text('[meta]\nname = "shape"\n', encoding="utf-8")
    (job / "output").mkdir()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Tiny:
    for name in ("torch", "diffusers", "transformers", "peft"):
        pytest.importorskip(name)
    root = tmp_path_factory.mktemp("tiny-sdxl")
    pipe = tiny_sdxl.build_pipeline(seed=0)
    base = root / "base"
    pipe.save_pretrained(base)
    job = root / "20261201-100000-shape-ab12"
    write_job(job, base)
    # the step file is written first so the final one is the newest, as in a real run
    step = job / "output" / "shape_lora-step00000002.safetensors"
    tiny_sdxl.make_lora(pipe, step, seed=2, scale=0.4)
    final = job / "output" / "shape_lora.safetensors"
    modules = tiny_sdxl.make_lora(pipe, final, seed=1)
    os.utime(final, (step.stat().st_mtime + 5, step.stat().st_mtime + 5))
    zero = root / "zero.safetensors"
    tiny_sdxl.make_lora(pipe, zero, seed=3, up_scale=0.0)
    clip = tiny_sdxl.save_clip(root / "clip")
    return Tiny(root=root, base=base, job=job, final=final, step=step, zero=zero, modules=modules, clip=clip)


@pytest.fixture(scope="session")
def small_settings():
    from kohya_wrap.validate.settings import GenerationSettings

    return GenerationSettings(width=64, height=64, steps=2, cfg=5.0, sampler="euler")


@pytest.fixture(scope="session")
def validation(tiny, small_settings):
    """One real validate run of three LoRAs on 2 prompts x 2 seeds at strengths 0 and 1, through the child."""
    from kohya_wrap.validate.flow import validate
    from kohya_wrap.validate.settings import Prompt, ValidationPlan

    plan = ValidationPlan(prompts=[Prompt("shape, a red circle", "blurry"), Prompt("shape, a blue square")],
                          seeds=[1, 2], strengths=[0.0, 1.0], settings=small_settings)
    events: list[dict] = []
    record, run_dir = validate([str(tiny.job), str(tiny.step), str(tiny.zero)], plan, clip=tiny.clip,
                               progress=events.append, python=PYTHON)
    return record, run_dir, events

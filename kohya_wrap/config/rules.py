"""Rules sd-scripts checks late, badly or never: each returns ConfigIssues before anything launches."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from kohya_wrap.config.schema import DatasetSection
from kohya_wrap.errors import ConfigIssue

Source = Callable[[str], str]
CAPTION_CHANGERS = ("shuffle_caption", "caption_dropout_rate", "caption_tag_dropout_rate",
                    "caption_dropout_every_n_epochs", "token_warmup_step")
SAMPLING_KEYS = ("sample_every_n_steps", "sample_every_n_epochs", "sample_at_first")
PRECISION_NEEDS = {"full_bf16": ("bf16",), "full_fp16": ("fp16",), "fp8_base": ("fp16", "bf16"),
                   "fp8_base_unet": ("fp16", "bf16")}


def bucket_rules(ds: DatasetSection, source: Source) -> list[ConfigIssue]:
    issues = []
    if ds.bucket_reso_steps % 32:
        issues.append(ConfigIssue("dataset.bucket_reso_steps", f"{ds.bucket_reso_steps} is not a multiple of 32; "
                                  "SDXL's VAE and U-Net need bucket sides divisible by 32 (use 32 or 64)",
                                  source("dataset.bucket_reso_steps")))
    width, height = ds.size()
    if ds.enable_bucket and ds.min_bucket_reso > min(width, height):
        issues.append(ConfigIssue("dataset.min_bucket_reso", f"{ds.min_bucket_reso} is larger than the resolution "
                                  f"{width}x{height}; it must be <= the smaller side", source("dataset.min_bucket_reso")))
    if ds.enable_bucket and ds.max_bucket_reso < max(width, height):
        issues.append(ConfigIssue("dataset.max_bucket_reso", f"{ds.max_bucket_reso} is smaller than the resolution "
                                  f"{width}x{height}; it must be >= the larger side", source("dataset.max_bucket_reso")))
    return issues


def caching_rules(ds: DatasetSection, args: dict, source: Source) -> list[ConfigIssue]:
    issues = []
    if args.get("cache_text_encoder_outputs") or args.get("cache_text_encoder_outputs_to_disk"):
        key = "cache_text_encoder_outputs"
        if not args.get("network_train_unet_only"):
            issues.append(ConfigIssue(key, "caching text-encoder outputs needs network_train_unet_only = true "
                                      "(the text encoders cannot be trained from cached outputs)", source(key)))
        for changer in CAPTION_CHANGERS:
            if getattr(ds, changer):
                issues.append(ConfigIssue(f"dataset.{changer}", f"cannot be used with {key}: cached outputs are "
                                          "computed once from fixed captions", source(f"dataset.{changer}")))
    if args.get("cache_latents") or args.get("cache_latents_to_disk"):
        for augment in ("color_aug", "random_crop"):
            if getattr(ds, augment):
                issues.append(ConfigIssue(f"dataset.{augment}", "cannot be used with cache_latents: latents are "
                                          "encoded once, so per-step augmentation is impossible",
                                          source(f"dataset.{augment}")))
    return issues


def argument_rules(args: dict, source: Source) -> list[ConfigIssue]:
    issues = []
    te_lr = args.get("text_encoder_lr")
    if isinstance(te_lr, list) and len(te_lr) > 1:
        issues.append(ConfigIssue("text_encoder_lr", "give one value: networks.lora uses only the first entry and "
                                  "silently drops the rest (both SDXL text encoders share it)", source("text_encoder_lr")))
    if not args.get("sample_prompts"):
        for key in SAMPLING_KEYS:
            if args.get(key):
                issues.append(ConfigIssue(key, "sampling needs sample_prompts (a file path or a list of prompts)",
                                          source(key)))
    precision = args.get("mixed_precision", "no")
    for key, allowed in PRECISION_NEEDS.items():
        if args.get(key) and precision not in allowed:
            need = " or ".join(repr(value) for value in allowed)
            issues.append(ConfigIssue(key, f"needs mixed_precision = {need}, not {precision!r}", source(key)))
    if args.get("lr_scheduler", "constant") == "constant" and args.get("lr_warmup_steps", 0):
        issues.append(ConfigIssue("lr_warmup_steps", "the 'constant' scheduler ignores warmup (sd-scripts stops with "
                                  "an error); use 'constant_with_warmup' or remove lr_warmup_steps",
                                  source("lr_warmup_steps")))
    return issues


def model_rules(args: dict, source: Source) -> list[ConfigIssue]:
    key = "pretrained_model_name_or_path"
    model = args.get(key)
    if not model:
        return [ConfigIssue(key, "no base model given: pass --model FILE (an SDXL .safetensors checkpoint)", source(key))]
    if not Path(model).expanduser().exists():
        return [ConfigIssue(key, f"{model} does not exist (sd-scripts would treat it as a Hub id and fail with a "
                            "confusing download error)", source(key))]
    from kohya_wrap.config.model_check import model_problem

    problem = model_problem(Path(model), separate_vae=bool(args.get("vae")))
    return [ConfigIssue(key, problem, source(key))] if problem else []


def output_rules(output_root: Path) -> list[ConfigIssue]:
    existing = Path(output_root)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return [ConfigIssue("output", f"{output_root} is not writable", "job folder location")]
    return []

"""A LoRA file's ss_* metadata (written by sd-scripts when it saves) -> the config values that trained it."""

from __future__ import annotations

import ast
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers.args import DATASET_KEYS, place_arg, place_dataset
from kohya_wrap.importers.family import family_from_base_version, refuse
from kohya_wrap.importers.optimizers import optimizer_from_metadata
from kohya_wrap.importers.record import Imported
from kohya_wrap.importers.sources import Subset, place_subsets

MAX_HEADER = 100 * 1024 * 1024
# ss_ key -> sd-scripts argument, for values that are carried as they were recorded.
ARGS = {
    "ss_network_module": "network_module", "ss_network_dim": "network_dim", "ss_network_alpha": "network_alpha",
    "ss_network_dropout": "network_dropout", "ss_learning_rate": "learning_rate", "ss_unet_lr": "unet_lr",
    "ss_text_encoder_lr": "text_encoder_lr", "ss_lr_scheduler": "lr_scheduler", "ss_lr_warmup_steps": "lr_warmup_steps",
    "ss_max_train_steps": "max_train_steps", "ss_gradient_accumulation_steps": "gradient_accumulation_steps",
    "ss_gradient_checkpointing": "gradient_checkpointing", "ss_mixed_precision": "mixed_precision",
    "ss_full_fp16": "full_fp16", "ss_fp8_base": "fp8_base", "ss_fp8_base_unet": "fp8_base_unet",
    "ss_cache_latents": "cache_latents", "ss_seed": "seed", "ss_noise_offset": "noise_offset",
    "ss_adaptive_noise_scale": "adaptive_noise_scale", "ss_multires_noise_iterations": "multires_noise_iterations",
    "ss_zero_terminal_snr": "zero_terminal_snr", "ss_max_grad_norm": "max_grad_norm",
    "ss_prior_loss_weight": "prior_loss_weight", "ss_min_snr_gamma": "min_snr_gamma",
    "ss_scale_weight_norms": "scale_weight_norms", "ss_ip_noise_gamma": "ip_noise_gamma",
    "ss_debiased_estimation": "debiased_estimation_loss", "ss_loss_type": "loss_type",
    "ss_max_token_length": "max_token_length", "ss_clip_skip": "clip_skip", "ss_training_comment": "training_comment",
    "ss_output_name": "output_name", "ss_noise_offset_random_strength": "noise_offset_random_strength",
    "ss_ip_noise_gamma_random_strength": "ip_noise_gamma_random_strength", "ss_lowram": "lowram",
}
HUBER = ("ss_huber_c", "ss_huber_scale", "ss_huber_schedule")
DATASET = {"ss_caption_dropout_rate": "caption_dropout_rate", "ss_caption_tag_dropout_rate": "caption_tag_dropout_rate",
           "ss_caption_dropout_every_n_epochs": "caption_dropout_every_n_epochs",
           # written only for runs without a dataset config:
           "ss_batch_size_per_device": "batch_size", "ss_resolution": "resolution", "ss_enable_bucket": "enable_bucket",
           "ss_min_bucket_reso": "min_bucket_reso", "ss_max_bucket_reso": "max_bucket_reso",
           "ss_bucket_no_upscale": "bucket_no_upscale", "ss_keep_tokens": "keep_tokens",
           "ss_shuffle_caption": "shuffle_caption", "ss_flip_aug": "flip_aug", "ss_color_aug": "color_aug",
           "ss_random_crop": "random_crop"}
SUBSET_OPTIONS = ("keep_tokens", "shuffle_caption", "flip_aug", "color_aug", "random_crop", "keep_tokens_separator",
                  "secondary_separator", "enable_wildcard", "caption_prefix", "caption_suffix")


@dataclass
class LoraFacts:
    """What a LoRA's metadata says about its training: arguments, dataset, subsets, base model, progress."""

    args: dict[str, tuple[object, str]] = field(default_factory=dict)
    dataset: dict[str, tuple[object, str]] = field(default_factory=dict)
    subsets: list[dict] = field(default_factory=list)
    base_model: dict[str, str] = field(default_factory=dict)
    progress: dict[str, object] = field(default_factory=dict)
    family: str = ""
    architecture: str = ""
    trains_text_encoder: bool | None = None


def read_header(path: Path) -> dict:
    """The JSON header of a .safetensors file (only the header is read), or a saved `.header.json` copy of one."""
    path = Path(path)
    with path.open("rb") as handle:
        start = handle.read(8)
        if start[:1] == b"{":
            return json.loads(start + handle.read())
        if len(start) < 8:
            raise KohyaWrapError(f"{path} is not a safetensors file (too short).")
        size = struct.unpack("<Q", start)[0]
        if size > MAX_HEADER:
            raise KohyaWrapError(f"{path} is not a safetensors file (header size {size}).")
        try:
            return json.loads(handle.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise KohyaWrapError(f"{path} is not a safetensors file (its header is not JSON).") from None


def facts_from_metadata(meta: dict, tensor_names=()) -> LoraFacts:
    """Pure: the ss_* strings of a LoRA's metadata -> typed training facts (sd-scripts stores every value as str)."""
    facts = LoraFacts(family=meta.get("ss_base_model_version", ""), architecture=meta.get("modelspec.architecture", ""))
    for key, arg in ARGS.items():
        value = parse_value(meta.get(key))
        if value is not None:
            facts.args[arg] = (value, key)
    if meta.get("ss_loss_type") in ("huber", "smooth_l1"):
        for key in HUBER:
            if parse_value(meta.get(key)) is not None:
                facts.args[key[3:]] = (parse_value(meta[key]), key)
    if facts.args.get("multires_noise_iterations"):
        facts.args["multires_noise_discount"] = (parse_value(meta.get("ss_multires_noise_discount")),
                                                 "ss_multires_noise_discount")
    network_args = parse_json(meta.get("ss_network_args"))
    if isinstance(network_args, dict) and network_args:
        facts.args["network_args"] = ([f"{key}={value}" for key, value in network_args.items()], "ss_network_args")
    optimizer = optimizer_from_metadata(meta.get("ss_optimizer", ""))
    if optimizer:
        facts.args["optimizer_type"] = (optimizer[0], "ss_optimizer")
        if optimizer[1]:
            facts.args["optimizer_args"] = (optimizer[1], "ss_optimizer")
    for key, name in DATASET.items():
        value = parse_value(meta.get(key))
        if value is not None:
            facts.dataset[name] = (value, key)
    _datasets(facts, meta)
    facts.base_model = {name: meta[key] for key, name in (("ss_sd_model_name", "name"), ("ss_sd_model_hash", "hash"),
                        ("ss_new_sd_model_hash", "sha256"), ("ss_vae_name", "vae")) if meta.get(key)}
    facts.progress = {name: parse_value(meta.get(key)) for key, name in (
        ("ss_steps", "steps"), ("ss_epoch", "epoch"), ("ss_num_epochs", "epochs"), ("ss_max_train_steps", "max_steps"),
        ("ss_training_started_at", "started_at"), ("ss_training_finished_at", "finished_at"),
        ("ss_num_train_images", "train_images"), ("ss_num_reg_images", "reg_images"),
        ("ss_num_batches_per_epoch", "batches_per_epoch"), ("ss_sd_scripts_commit_hash", "sd_scripts_commit"),
        ("ss_session_id", "session_id")) if meta.get(key) not in (None, "None")}
    names = list(tensor_names)
    if names:
        facts.trains_text_encoder = any(name.startswith(("lora_te", "lycoris_te")) for name in names)
    return facts


def _datasets(facts: LoraFacts, meta: dict) -> None:
    datasets = parse_json(meta.get("ss_datasets"))
    if isinstance(datasets, list) and datasets:
        first = datasets[0]
        for name, key in (("batch_size", "batch_size_per_device"), ("resolution", "resolution"),
                          ("enable_bucket", "enable_bucket"), ("min_bucket_reso", "min_bucket_reso"),
                          ("max_bucket_reso", "max_bucket_reso")):
            if first.get(key) is not None:
                facts.dataset[name] = (first[key], f"ss_datasets[0].{key}")
        facts.subsets = [dict(subset, _where=f"ss_datasets[0].subsets[{index}]")
                         for index, subset in enumerate(first.get("subsets", []))]
        facts.progress["datasets"] = len(datasets)
        return
    for key, is_reg in (("ss_dataset_dirs", False), ("ss_reg_dataset_dirs", True)):
        dirs = parse_json(meta.get(key))
        for folder, info in (dirs or {}).items() if isinstance(dirs, dict) else ():
            facts.subsets.append({"image_dir": folder, "num_repeats": info.get("n_repeats", 1),
                                  "img_count": info.get("img_count"), "is_reg": is_reg, "_where": f"{key}.{folder}"})


def parse_value(text):
    """'None' -> None, 'True' -> True, '1e-4' -> 0.0001, '[0.0001]' -> [0.0001], other text stays text."""
    if text is None or text == "None":
        return None
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_json(text):
    try:
        return json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        return None


LABEL = "LoRA metadata"


def read(path: Path, header: dict | None = None) -> Imported:
    """A LoRA (.safetensors, or its saved header JSON) -> preset values from its ss_* metadata."""
    header = header if header is not None else read_header(path)
    meta = header.get("__metadata__") or {}
    if not any(key.startswith("ss_") for key in meta):
        raise KohyaWrapError(f"{path.name} has no sd-scripts training metadata (ss_* keys).",
                             hint="only LoRAs saved by sd-scripts (kohya_ss, LoRA_Easy, kohya-wrap) record how they "
                                  "were trained; this one was saved elsewhere or its metadata was stripped")
    facts = facts_from_metadata(meta, [name for name in header if name != "__metadata__"])
    family = "Stable Diffusion 2.x" if parse_value(meta.get("ss_v2")) else family_from_base_version(
        facts.family, facts.architecture)
    if family:
        raise refuse(LABEL, path, family, f"ss_base_model_version = {facts.family!r}")
    name = str(facts.args.get("output_name", (path.name.split(".")[0],))[0])
    base = facts.base_model.get("name", "an unrecorded base model")
    imp = Imported("lora", LABEL, path, noun="", name=name, description=f"Imported from LoRA {name} (trained on {base})")
    _place(imp, facts)
    _notes(imp, facts)
    return imp


def config_from_header(header: dict, file_name: str = "lora.safetensors") -> dict[str, dict]:
    """Pure: a LoRA's safetensors header -> {preset section: {key: value}} (for adopting past runs)."""
    from kohya_wrap.importers.finish import finish

    return finish(read(Path(file_name), header)).tables()


def _place(imp: Imported, facts: LoraFacts) -> None:
    for arg, (value, key) in facts.args.items():
        if value is False:
            imp.drop(key, value, "off: sd-scripts' default")
        else:
            place_arg(imp, arg, value, key)
    if facts.trains_text_encoder is False and not imp.get("network.network_train_text_encoder_only"):
        place_arg(imp, "network_train_unet_only", True, "tensor names", "the file holds no lora_te* (text-encoder) "
                  "weights, so only the U-Net was trained")
    for name, (value, key) in facts.dataset.items():
        place_dataset(imp, name, value, key)
    subsets = []
    for subset in facts.subsets:
        options = {key: subset[key] for key in SUBSET_OPTIONS if subset.get(key) not in (None, "")
                   and (subset[key] is not False or key in DATASET_KEYS)}
        subsets.append(Subset(subset["_where"], subset.get("image_dir"), int(subset.get("num_repeats") or 1),
                              subset.get("class_tokens"), bool(subset.get("is_reg")), options))
    if subsets:
        place_subsets(imp, subsets, paths_known=False)


def _notes(imp: Imported, facts: LoraFacts) -> None:
    base = facts.base_model
    if base:
        imp.note("base model: " + ", ".join(f"{key} {value}" for key, value in base.items())
                 + " (pass your copy with --model)")
    trained = [f"{subset.get('image_dir')} ({subset.get('img_count')} images x {subset.get('num_repeats')} repeats"
               f"{', regularisation' if subset.get('is_reg') else ''})" for subset in facts.subsets]
    if trained:
        imp.note("trained on " + "; ".join(trained) + ": the metadata keeps folder names only, so pass the "
                 "dataset with --dataset")
    progress = facts.progress
    if progress.get("steps") is not None:
        imp.note(f"this file was saved at step {progress['steps']} of {progress.get('max_steps', '?')} (epoch "
                 f"{progress.get('epoch', '?')} of {progress.get('epochs', '?')})")
    if facts.trains_text_encoder is None:
        imp.note("the tensor names were not available: whether the text encoders were trained is unknown")

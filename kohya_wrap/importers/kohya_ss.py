"""kohya_ss GUI JSON (its presets/lora/*.json and saved configs) -> preset values, by the GUI's own rules."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap.importers import kohya_network, kohya_training
from kohya_wrap.importers.args import place_arg
from kohya_wrap.importers.family import refuse
from kohya_wrap.importers.record import Imported
from kohya_wrap.importers.sd_scripts import link_dataset_config

LABEL = "kohya_ss JSON"
# Checkboxes that switch the GUI to another trainer than sdxl_train_network.py.
OTHER_TRAINERS = {"flux1_checkbox": "FLUX.1", "sd3_checkbox": "SD3", "hunyuan_image_checkbox": "HunyuanImage",
                  "anima_checkbox": "Anima", "lumina_checkbox": "Lumina", "v2": "Stable Diffusion 2.x"}
OTHER_TYPES = {"Flux1": "FLUX.1", "Flux1 OFT": "FLUX.1", "Anima": "Anima", "Lumina": "Lumina",
               "HunyuanImage-2.1": "HunyuanImage"}
# GUI field -> sd-scripts argument, for the fields the GUI writes under another name (kohya_gui/lora_gui.py).
RENAMED = {"optimizer": "optimizer_type", "lora_network_weights": "network_weights", "max_resolution": "resolution",
           "sdxl_no_half_vae": "no_half_vae", "sdxl_cache_text_encoder_outputs": "cache_text_encoder_outputs"}
# Fields the GUI writes under the argument's own name; like the GUI, empty/0/false values are not written.
DIRECT = (
    "async_upload bucket_no_upscale bucket_reso_steps cache_latents cache_latents_to_disk caption_dropout_every_n_epochs "
    "caption_dropout_rate caption_extension color_aug debiased_estimation_loss dim_from_weights enable_bucket flip_aug "
    "fp8_base full_bf16 full_fp16 gradient_accumulation_steps gradient_checkpointing highvram ip_noise_gamma "
    "ip_noise_gamma_random_strength keep_tokens learning_rate logging_dir log_config log_tracker_name "
    "log_tracker_config loss_type lr_scheduler masked_loss max_bucket_reso max_grad_norm max_timestep mem_eff_attn "
    "metadata_author metadata_description metadata_license metadata_tags metadata_title min_bucket_reso "
    "min_snr_gamma min_timestep mixed_precision network_alpha network_dim network_dropout network_weights output_dir "
    "output_name persistent_data_loader_workers pretrained_model_name_or_path prior_loss_weight random_crop "
    "reg_data_dir resume resume_from_huggingface sample_every_n_epochs sample_every_n_steps save_every_n_epochs "
    "save_every_n_steps save_last_n_steps save_last_n_steps_state save_last_n_epochs save_last_n_epochs_state "
    "save_model_as save_precision save_state save_state_on_train_end save_state_to_huggingface "
    "scale_v_pred_loss_like_noise_pred scale_weight_norms shuffle_caption skip_cache_check train_batch_size "
    "train_data_dir training_comment log_with v_parameterization v_pred_like_loss vae vae_batch_size wandb_api_key "
    "wandb_run_name weighted_captions huggingface_repo_id huggingface_token huggingface_repo_type "
    "huggingface_repo_visibility huggingface_path_in_repo"
).split()
LAUNCH = {"num_processes": "num_processes", "num_machines": "num_machines", "gpu_ids": "gpu_ids",
          "num_cpu_threads_per_process": "num_cpu_threads_per_process", "dynamo_backend": "dynamo_backend"}
# Widget defaults (kohya_gui/class_*.py, lora_gui.py) for fields a file may lack.
DEFAULTS = {"max_resolution": "512,512", "train_batch_size": 1, "min_bucket_reso": 256, "max_bucket_reso": 2048,
            "bucket_reso_steps": 64, "enable_bucket": True, "caption_extension": ".txt", "cache_latents": True,
            "xformers": "xformers", "noise_offset_type": "Original", "max_timestep": 1000, "save_precision": "fp16",
            "lr_scheduler": "cosine", "learning_rate": 0.0001, "text_encoder_lr": 0.0001, "unet_lr": 0.0001,
            "lr_warmup": 10, "epoch": 1, "multires_noise_discount": 0.3, "mixed_precision": "fp16",
            "save_every_n_epochs": 1}


def read(path: Path, data: dict | None = None) -> Imported:
    """Every field of a kohya_ss LoRA-tab JSON, mapped onto sd-scripts arguments the way the GUI writes them."""
    data = dict(data if data is not None else json.loads(path.read_text(encoding="utf-8")))
    _check_family(path, data)
    imp = Imported("kohya-ss", LABEL, path, name=path.stem,
                   description=f"Imported from kohya_ss preset {path.name}" + _comment(data))
    data = _upgrade(imp, data)
    used = {"sdxl", "dataset_config", *OTHER_TRAINERS}
    imp.drop("sdxl", True, "kohya-wrap always runs sdxl_train_network.py, the script this checkbox selects")
    used |= _network(imp, data)
    used |= kohya_training.place(imp, data)
    used |= _direct(imp, data)
    used |= _launch(imp, data)
    used |= kohya_training.additional_parameters(imp, data)
    if data.get("dataset_config"):
        link_dataset_config(imp, path, data["dataset_config"], "dataset_config")
    for name in sorted(set(data) - imp.seen):
        imp.drop(name, data[name], "empty, 0 or off: the GUI does not write it, so sd-scripts' default applies"
                 if name in used else "GUI-only field: the GUI's LoRA tab does not pass it to sdxl_train_network.py")
    return imp


def _comment(data: dict) -> str:
    comment = str(data.get("training_comment") or "").strip()
    return f": {comment[:120]}" if comment else ""


def _check_family(path: Path, data: dict) -> None:
    for name, family in OTHER_TRAINERS.items():
        if data.get(name):
            raise refuse(LABEL, path, family, f"`{name}` is checked")
    lora_type = str(data.get("LoRA_type", "Standard"))
    if lora_type in OTHER_TYPES:
        raise refuse(LABEL, path, OTHER_TYPES[lora_type], f"LoRA_type {lora_type!r}")
    if data.get("sdxl") is not True:
        raise refuse(LABEL, path, "Stable Diffusion 1.x", "`sdxl` is not checked, so the GUI runs train_network.py")
    if "network_dim" not in data and "LoRA_type" not in data:
        raise refuse(LABEL, path, "another training tab (DreamBooth, fine-tuning or textual inversion)",
                     "it has no LoRA fields")


def _upgrade(imp: Imported, data: dict) -> dict:
    """What the GUI's update_my_data does on load: legacy fields to their current names and types."""
    kohya_training.fix_numbers(data)
    if "optimizer" not in data and "use_8bit_adam" in data:
        data["optimizer"] = "AdamW8bit" if data["use_8bit_adam"] else "AdamW"
        imp.drop("use_8bit_adam", data.pop("use_8bit_adam"), f"legacy field: read as optimizer {data['optimizer']!r}")
    if "use_wandb" in data:
        if data["use_wandb"] in ("True", True):
            data["log_with"] = "wandb"
        imp.drop("use_wandb", data.pop("use_wandb"), "legacy field: read as log_with = 'wandb' when true")
    if isinstance(data.get("xformers"), bool):
        data["xformers"] = "xformers" if data["xformers"] else "none"
        imp.note("`xformers` is a bool in this (older) file: true means 'xformers', false means 'none'")
    for name, value in DEFAULTS.items():
        if name not in data:
            data[name] = value
            imp.note(f"`{name}` is missing: the GUI's default {value!r} is used")
    return data


def _network(imp: Imported, data: dict) -> set[str]:
    lora_type = str(data.get("LoRA_type", "Standard"))
    found = kohya_network.network_for(lora_type, data)
    if found is None:
        imp.drop("LoRA_type", lora_type, "no rule in the kohya_ss GUI for this LoRA type with SDXL")
        return {"LoRA_type"} | kohya_network.NETWORK_FIELDS
    module, network_args, used, how = found
    imp.seen |= used & set(data)
    place_arg(imp, "network_module", module, "LoRA_type", f"{lora_type!r} -> {module}")
    if network_args:
        fields = ("LoRA_type", *sorted(name for name in used if name in data))
        place_arg(imp, "network_args", network_args, fields, how)
    for name in sorted(kohya_network.NETWORK_FIELDS - used - {"LoRA_type"}):
        if name in data and data[name] not in ("", None):
            reason = ("the Standard LoRA type ignores conv dims (the GUI writes them only for LoCon types)"
                      if lora_type == "Standard" and name.startswith("conv_") else
                      f"the {lora_type} LoRA type does not use it" if data[name] not in (0, False) else
                      "empty or off: the GUI does not write it")
            imp.drop(name, data[name], reason)
    return {"LoRA_type"} | kohya_network.NETWORK_FIELDS


def _direct(imp: Imported, data: dict) -> set[str]:
    used = set()
    for name in DIRECT + list(RENAMED):
        if name not in data:
            continue
        used.add(name)
        value = data[name]
        if value in ("", None) or value is False or (value == 0 and not isinstance(value, str)):
            imp.drop(name, value, "empty, 0 or off: the GUI does not write it, so sd-scripts' default applies")
            continue
        arg = RENAMED.get(name, name)
        place_arg(imp, arg, value, name, f"GUI field renamed to {arg}" if arg != name else "")
    workers = data.get("max_data_loader_n_workers")
    if workers not in (None, ""):
        place_arg(imp, "max_data_loader_n_workers", int(workers), "max_data_loader_n_workers")
    return used | {"max_data_loader_n_workers"}


def _launch(imp: Imported, data: dict) -> set[str]:
    for name, key in LAUNCH.items():
        value = data.get(name)
        if value not in (None, "") and not (name == "dynamo_backend" and value == "no"):
            imp.put("launch", key, int(value) if key.startswith("num_") else str(value), name)
    if data.get("multi_gpu"):
        imp.drop("multi_gpu", True, "kohya-wrap launches several GPUs from launch.num_processes")
    return set(LAUNCH) | {"multi_gpu"}

"""The kohya_ss GUI fields it turns into other arguments: steps/epochs, warmup, rates, noise, args strings."""

from __future__ import annotations

from kohya_wrap.importers.args import parse_command_line, place_arg
from kohya_wrap.importers.record import Imported

USED = {"epoch", "max_train_steps", "max_train_epochs", "lr_warmup", "lr_warmup_steps", "text_encoder_lr", "unet_lr",
        "t5xxl_lr", "noise_offset_type", "noise_offset", "adaptive_noise_scale", "multires_noise_iterations",
        "multires_noise_discount", "noise_offset_random_strength", "optimizer_args", "lr_scheduler_args",
        "lr_scheduler_num_cycles", "lr_scheduler_power", "lr_scheduler_type", "xformers", "seed", "clip_skip",
        "max_token_length", "stop_text_encoder_training", "stop_text_encoder_training_pct", "sample_prompts",
        "sample_sampler", "huber_c", "huber_scale", "huber_schedule"}
# sd-scripts' schedulers that read --lr_scheduler_num_cycles (library/train_util.py get_scheduler_fix).
CYCLE_SCHEDULERS = ("cosine_with_restarts", "cosine_with_min_lr", "warmup_stable_decay")
# update_my_data's type fixes: field -> (type, value when unreadable).
NUMBERS = {"clip_skip": (int, 0), "epoch": (int, 0), "gradient_accumulation_steps": (int, 0), "keep_tokens": (int, 0),
           "lr_warmup": (int, 0), "max_data_loader_n_workers": (int, 0), "max_train_epochs": (int, 0),
           "save_every_n_epochs": (int, 0), "seed": (int, 0), "lr_scheduler_num_cycles": (int, 1),
           "max_train_steps": (int, 0), "caption_dropout_every_n_epochs": (int, 0), "max_token_length": (int, 75),
           "adaptive_noise_scale": (float, 0.0), "noise_offset": (float, 0.0), "learning_rate": (float, 0.0),
           "text_encoder_lr": (float, 0.0), "unet_lr": (float, 0.0), "lr_scheduler_power": (float, 1.0)}


def fix_numbers(data: dict) -> None:
    """The GUI stores many numbers as strings ('' for unset); it converts them like this when it loads a file."""
    for name, (kind, fallback) in NUMBERS.items():
        if data.get(name) is not None:
            try:
                data[name] = kind(data[name])
            except (TypeError, ValueError):
                data[name] = fallback


def place(imp: Imported, data: dict) -> set[str]:
    _steps(imp, data)
    _rates(imp, data)
    _noise(imp, data)
    _scheduler(imp, data)
    _attention_and_text(imp, data)
    return USED & set(data) | {"text_encoder_lr", "unet_lr"}


def _steps(imp: Imported, data: dict) -> None:
    steps, epochs, epoch = data.get("max_train_steps"), data.get("max_train_epochs") or 0, data.get("epoch") or 0
    if steps is None:
        imp.note("`max_train_steps` is missing: the GUI that wrote this file computed the steps from `epoch` "
                 "(current GUIs fill in 1600 instead)")
    steps = steps or 0
    if epochs:
        place_arg(imp, "max_train_epochs", epochs, "max_train_epochs")
        imp.drop("epoch", epoch, "max_train_epochs is set and sd-scripts uses it over any step count")
    elif steps:
        place_arg(imp, "max_train_steps", steps, "max_train_steps")
        imp.drop("epoch", epoch, "max_train_steps is set; the GUI uses `epoch` only to compute the steps when it is 0")
    elif epoch:
        place_arg(imp, "max_train_epochs", epoch, "epoch", f"the GUI turns {epoch} epochs into max_train_steps from the "
                  "image folders; max_train_epochs lets sd-scripts compute the same from the dataset")
    warmup_steps, percent = data.get("lr_warmup_steps") or 0, data.get("lr_warmup") or 0
    if float(warmup_steps) > 0:
        place_arg(imp, "lr_warmup_steps", int(float(warmup_steps)), "lr_warmup_steps")
        if percent:
            imp.drop("lr_warmup", percent, "lr_warmup_steps is set and the GUI uses it over the percentage")
    elif percent and steps:
        place_arg(imp, "lr_warmup_steps", round(percent * steps / 100), "lr_warmup",
                  f"{percent} % of max_train_steps {steps} (rounded, as the GUI does)")
    elif percent:
        place_arg(imp, "lr_warmup_steps", percent / 100, "lr_warmup",
                  f"{percent} % of the steps -> {percent / 100} (sd-scripts reads a fraction as a share of the total)")


def _rates(imp: Imported, data: dict) -> None:
    te, unet, lr = data.get("text_encoder_lr") or 0.0, data.get("unet_lr") or 0.0, data.get("learning_rate") or 0.0
    if unet:
        place_arg(imp, "unet_lr", float(unet), "unet_lr")
    if te:
        place_arg(imp, "text_encoder_lr", float(te), "text_encoder_lr", f"the GUI writes [{te}, {te}] (one per SDXL "
                  "text encoder); networks.lora reads the first, so one value is kept")
    if te == 0 and unet != 0:
        place_arg(imp, "network_train_unet_only", True, "text_encoder_lr", "text_encoder_lr 0 with a U-Net rate: the "
                  "GUI trains the U-Net only")
    elif te != 0 and unet == 0:
        place_arg(imp, "network_train_text_encoder_only", True, "unet_lr", "unet_lr 0 with a text-encoder rate: the "
                  "GUI trains the text encoders only")
    if not (te or unet or lr):
        imp.note("all learning rates are 0: the GUI refuses to train with this file ('Please input learning rate values')")


def _noise(imp: Imported, data: dict) -> None:
    kind = data.get("noise_offset_type", "Original")
    other = ("multires_noise_iterations", "multires_noise_discount") if kind == "Original" else (
        "noise_offset", "adaptive_noise_scale", "noise_offset_random_strength")
    if kind == "Original":
        if data.get("noise_offset"):
            place_arg(imp, "noise_offset", data["noise_offset"], "noise_offset")
            if data.get("adaptive_noise_scale"):
                place_arg(imp, "adaptive_noise_scale", data["adaptive_noise_scale"], "adaptive_noise_scale")
            if data.get("noise_offset_random_strength"):
                place_arg(imp, "noise_offset_random_strength", True, "noise_offset_random_strength")
        elif data.get("adaptive_noise_scale"):
            imp.drop("adaptive_noise_scale", data["adaptive_noise_scale"], "noise_offset is 0, and sd-scripts "
                     "refuses adaptive_noise_scale without a noise offset")
    elif data.get("multires_noise_iterations"):
        place_arg(imp, "multires_noise_iterations", data["multires_noise_iterations"], "multires_noise_iterations")
        place_arg(imp, "multires_noise_discount", data.get("multires_noise_discount", 0.3), "multires_noise_discount")
    for name in other:
        if data.get(name):
            imp.drop(name, data[name], f"noise_offset_type is {kind!r}, so the GUI does not write it")
    imp.drop("noise_offset_type", kind, "GUI switch: it picks which noise fields the GUI writes")


def _scheduler(imp: Imported, data: dict) -> None:
    for name in ("optimizer_args", "lr_scheduler_args"):
        words = str(data.get(name) or "").replace('"', "").split()
        if words:
            place_arg(imp, name, words, name, "the GUI's text split into key=value words (quotes removed)")
    scheduler = data.get("lr_scheduler", "cosine")
    if data.get("lr_scheduler_type"):
        place_arg(imp, "lr_scheduler_type", data["lr_scheduler_type"], "lr_scheduler_type")
    # An empty field is 1 by the time the GUI trains: update_my_data turns '' into 1 when it loads the file.
    cycles = data.get("lr_scheduler_num_cycles") or 1
    if scheduler in CYCLE_SCHEDULERS and cycles:
        place_arg(imp, "lr_scheduler_num_cycles", int(cycles), "lr_scheduler_num_cycles")
    elif "lr_scheduler_num_cycles" in data:
        imp.drop("lr_scheduler_num_cycles", data["lr_scheduler_num_cycles"], f"the {scheduler!r} scheduler has no "
                 f"cycles (only {', '.join(CYCLE_SCHEDULERS)} read it)")
    if scheduler == "polynomial" and data.get("lr_scheduler_power"):
        place_arg(imp, "lr_scheduler_power", float(data["lr_scheduler_power"]), "lr_scheduler_power")
    elif "lr_scheduler_power" in data:
        imp.drop("lr_scheduler_power", data["lr_scheduler_power"], "only the polynomial scheduler reads it")
    huber = data.get("loss_type") in ("huber", "smooth_l1")
    for name in ("huber_c", "huber_scale", "huber_schedule"):
        if huber and data.get(name) not in (None, ""):
            place_arg(imp, name, data[name], name)


def _attention_and_text(imp: Imported, data: dict) -> None:
    attention = str(data.get("xformers", "xformers"))
    if attention in ("xformers", "sdpa"):
        place_arg(imp, attention, True, "xformers", f"{attention!r} -> {attention} = true")
    if data.get("seed"):
        place_arg(imp, "seed", int(data["seed"]), "seed")
    if data.get("clip_skip"):
        imp.drop("clip_skip", data["clip_skip"], "sd-scripts' SDXL trainer ignores clip_skip (it warns that it "
                 "does not work for SDXL)")
    tokens = data.get("max_token_length")
    if tokens in (150, 225):
        place_arg(imp, "max_token_length", tokens, "max_token_length")
    elif tokens:
        imp.drop("max_token_length", tokens, "75 is sd-scripts' default (its parser accepts only 150 or 225)")
    if data.get("stop_text_encoder_training") or data.get("stop_text_encoder_training_pct"):
        imp.drop("stop_text_encoder_training", data.get("stop_text_encoder_training"),
                 "the GUI ignores it ('not yet supported')")
    prompts = [line.strip() for line in str(data.get("sample_prompts") or "").splitlines() if line.strip()]
    if prompts:
        place_arg(imp, "sample_prompts", prompts, "sample_prompts", "the GUI's prompt text, one prompt a line")
        if data.get("sample_sampler"):
            place_arg(imp, "sample_sampler", data["sample_sampler"], "sample_sampler")


def additional_parameters(imp: Imported, data: dict) -> set[str]:
    """The GUI appends this text to the command line, so its values override the config file's."""
    text = str(data.get("additional_parameters") or "").strip()
    for name, value, words in parse_command_line(text) if text else []:
        if not name:
            imp.drop("additional_parameters", value, "a word that is not an --argument")
            continue
        place_arg(imp, name, value, "additional_parameters", f"parsed from `{words}` (command line beats config)")
    return {"additional_parameters"}

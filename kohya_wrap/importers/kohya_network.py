"""kohya_ss GUI LoRA types -> network_module and network_args, as kohya_gui/lora_gui.py builds them."""

from __future__ import annotations

# Widget defaults in kohya_gui/lora_gui.py, used when a saved file lacks the field.
NETWORK_DEFAULTS = {
    "LoRA_type": "Standard", "LyCORIS_preset": "full", "conv_dim": 1, "conv_alpha": 1, "factor": -1,
    "bypass_mode": False, "dora_wd": False, "use_cp": False, "use_tucker": False, "use_scalar": False,
    "rank_dropout_scale": False, "constrain": 0.0, "rescaled": False, "train_norm": False, "decompose_both": False,
    "train_on_input": True, "rank_dropout": 0, "module_dropout": 0, "unit": 1,
}
# LyCORIS algorithm per GUI type, and the GUI fields each one writes into network_args (in the GUI's order).
LYCORIS = {
    "LyCORIS/BOFT": ("boft", "preset conv_dim conv_alpha module_dropout use_tucker rank_dropout rank_dropout_scale"),
    "LyCORIS/Diag-OFT": ("diag-oft", "preset conv_dim conv_alpha module_dropout use_tucker rank_dropout "
                                     "rank_dropout_scale constraint rescaled"),
    "LyCORIS/DyLoRA": ("dylora", "preset conv_dim conv_alpha use_tucker block_size rank_dropout module_dropout"),
    "LyCORIS/GLoRA": ("glora", "preset conv_dim conv_alpha use_tucker rank_dropout module_dropout rank_dropout_scale"),
    "LyCORIS/iA3": ("ia3", "preset conv_dim conv_alpha train_on_input"),
    "LyCORIS/LoCon": ("locon", "preset conv_dim conv_alpha use_tucker rank_dropout bypass_mode dora_wd module_dropout "
                               "use_scalar rank_dropout_scale"),
    "LyCORIS/LoHa": ("loha", "preset conv_dim conv_alpha use_tucker rank_dropout bypass_mode dora_wd module_dropout "
                             "use_scalar rank_dropout_scale"),
    "LyCORIS/LoKr": ("lokr", "preset conv_dim conv_alpha use_tucker rank_dropout bypass_mode dora_wd module_dropout "
                             "factor use_cp use_scalar decompose_both rank_dropout_scale"),
    "LyCORIS/Native Fine-Tuning": ("full", "preset rank_dropout module_dropout rank_dropout_scale"),
}
# network_args name -> GUI field, where they differ.
ARG_FIELDS = {"preset": "LyCORIS_preset", "constraint": "constrain", "block_size": "unit"}
NO_TRAIN_NORM = {"LyCORIS/iA3"}
KOHYA_BLOCK_FIELDS = ("down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold", "block_dims",
                      "block_alphas", "conv_block_dims", "conv_block_alphas", "rank_dropout", "module_dropout")
KOHYA_MODULES = {"Standard": "networks.lora", "Kohya LoCon": "networks.lora", "LoRA-FA": "networks.lora_fa",
                 "Kohya DyLoRA": "networks.dylora", "Kohya LoHa": "networks.loha", "Kohya LoKr": "networks.lokr"}
LORAPLUS = ("loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio")
NETWORK_FIELDS = set(NETWORK_DEFAULTS) | set(KOHYA_BLOCK_FIELDS) | set(LORAPLUS)


def network_for(lora_type: str, data: dict) -> tuple[str, list[str], set[str], str] | None:
    """(network_module, network_args, GUI fields used, how) for a GUI LoRA type; None when the GUI has no SDXL rule."""
    field = lambda name: data.get(name, NETWORK_DEFAULTS.get(name))  # noqa: E731
    if lora_type == "LoCon":  # update_my_data renames the old type
        lora_type = "LyCORIS/LoCon"
    if lora_type in LYCORIS:
        algo, names = LYCORIS[lora_type]
        parts = [f"{name}={field(ARG_FIELDS.get(name, name))}" for name in names.split()] + [f"algo={algo}"]
        used = {ARG_FIELDS.get(name, name) for name in names.split()}
        if lora_type not in NO_TRAIN_NORM:
            parts.append(f"train_norm={field('train_norm')}")
            used.add("train_norm")
        how = f"LoRA_type {lora_type!r}: lycoris.kohya with algo={algo}, network_args built from the GUI's LyCORIS fields"
        return "lycoris.kohya", _with_loraplus(parts, data, used), used, how
    if lora_type in ("Kohya LoHa", "Kohya LoKr"):
        parts, used = _native_loha_lokr(lora_type == "Kohya LoKr", field)
        return KOHYA_MODULES[lora_type], _with_loraplus(parts, data, used), used, f"LoRA_type {lora_type!r}"
    if lora_type in KOHYA_MODULES:
        parts, used = [], set()
        if lora_type in ("Kohya LoCon", "Kohya DyLoRA"):
            parts += [f"conv_dim={field('conv_dim')}", f"conv_alpha={field('conv_alpha')}"]
            used |= {"conv_dim", "conv_alpha"}
        names = KOHYA_BLOCK_FIELDS + (("unit",) if lora_type == "Kohya DyLoRA" else ())
        for name in names:
            if data.get(name) not in (None, "", 0, False):
                parts.append(f"{name}={data[name]}")
                used.add(name)
        return KOHYA_MODULES[lora_type], _with_loraplus(parts, data, used), used, (
            f"LoRA_type {lora_type!r}" if parts or lora_type != "Standard" else "")
    return None


def _native_loha_lokr(is_lokr: bool, field) -> tuple[list[str], set[str]]:
    parts: list[str] = []
    if float(field("conv_dim") or 0) > 0:
        alpha = float(field("conv_alpha"))
        parts += [f"conv_dim={int(field('conv_dim'))}", f"conv_alpha={int(alpha) if alpha.is_integer() else alpha}"]
    if field("use_tucker"):
        parts.append("use_tucker=True")
    if is_lokr and int(field("factor")) != -1:
        parts.append(f"factor={int(field('factor'))}")
    for name in ("rank_dropout", "module_dropout"):
        if float(field(name) or 0) > 0:
            parts.append(f"{name}={field(name)}")
    return parts, {"conv_dim", "conv_alpha", "use_tucker", "factor", "rank_dropout", "module_dropout"}


def _with_loraplus(parts: list[str], data: dict, used: set[str]) -> list[str]:
    for name in LORAPLUS:
        if data.get(name):
            parts.append(f"{name}={data[name]}")
            used.add(name)
    # The GUI strips double quotes and splits on whitespace (lora_gui.py).
    return " ".join(parts).replace('"', "").split()

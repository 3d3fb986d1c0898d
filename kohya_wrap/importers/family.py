"""Refuse sources made for another model family: kohya-wrap trains SDXL LoRAs only."""

from __future__ import annotations

from pathlib import Path

from kohya_wrap.importers.record import ImportRefused

# sd-scripts arguments that exist only in the FLUX.1 / SD3 / other DiT trainers, never in sdxl_train_network.py.
FAMILY_MARKERS = {
    "FLUX.1": ("ae", "t5xxl", "guidance_scale", "t5xxl_max_token_length", "apply_t5_attn_mask", "split_mode",
               "model_prediction_type", "timestep_sampling", "discrete_flow_shift"),
    "SD3": ("clip_g", "weighting_scheme", "logit_mean", "logit_std", "mode_scale", "save_clip", "save_t5xxl"),
}
FAMILY_MODULES = {"networks.lora_flux": "FLUX.1", "networks.oft_flux": "FLUX.1", "networks.lora_sd3": "SD3",
                  "networks.lora_lumina": "Lumina", "networks.lora_hunyuan_image": "HunyuanImage",
                  "networks.lora_anima": "Anima"}


def refuse(label: str, path: Path, family: str, evidence: str) -> ImportRefused:
    return ImportRefused(
        f"{label} {path.name} is for {family} ({evidence}); kohya-wrap trains SDXL LoRAs only, so it cannot be imported.",
        hint="import an SDXL config, or start from a shipped preset: kohya-wrap presets ls",
    )


def family_from_args(args: dict) -> tuple[str, str] | None:
    """(family, evidence) when sd-scripts arguments show a non-SDXL trainer, else None."""
    if args.get("v2"):
        return "Stable Diffusion 2.x", "v2 = true"
    module = str(args.get("network_module") or "")
    if module in FAMILY_MODULES:
        return FAMILY_MODULES[module], f"network_module = {module!r}"
    for family, markers in FAMILY_MARKERS.items():
        present = [name for name in markers if args.get(name) not in (None, "", False)]
        if present:
            return family, f"{', '.join(present)} set, which only the {family} trainer reads"
    return None


def family_from_base_version(version: str, architecture: str) -> str | None:
    """The family a LoRA's ss_base_model_version / modelspec.architecture names, or None for SDXL."""
    if version.startswith("sdxl") or architecture.startswith("stable-diffusion-xl"):
        return None
    names = {"sd_v1": "Stable Diffusion 1.x", "sd_v2": "Stable Diffusion 2.x", "flux": "FLUX.1", "sd3": "SD3"}
    for prefix, family in names.items():
        if version.startswith(prefix) or architecture.startswith(prefix.replace("_", "-")):
            return family
    return f"another model ({version or architecture or 'no base model recorded'})"

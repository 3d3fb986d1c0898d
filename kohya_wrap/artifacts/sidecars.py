"""The files image tools read beside a LoRA: A1111/Forge's <name>.json and a ComfyUI workflow (API format)."""

from __future__ import annotations

import json
from dataclasses import dataclass

# Field names A1111 and Forge read from <lora name>.json (extensions-builtin/Lora's user-metadata editor).
A1111_FIELDS = ("description", "sd version", "activation text", "preferred weight", "negative text", "notes")
# our sampler name -> (ComfyUI KSampler sampler_name, scheduler)
COMFY_SAMPLERS = {
    "euler": ("euler", "normal"), "euler_a": ("euler_ancestral", "normal"), "heun": ("heun", "normal"),
    "ddim": ("ddim", "ddim_uniform"), "dpmpp_2m": ("dpmpp_2m", "normal"),
    "dpmpp_2m_karras": ("dpmpp_2m", "karras"), "dpmpp_2m_sde": ("dpmpp_2m_sde", "normal"),
    "dpmpp_2m_sde_karras": ("dpmpp_2m_sde", "karras"), "unipc": ("uni_pc", "normal"), "dpm_2": ("dpm_2", "normal"),
    "dpm_2_a": ("dpm_2_ancestral", "normal"),
}
DEFAULT_CHECKPOINT = "sd_xl_base_1.0.safetensors"


@dataclass
class UsageHints:
    """What a user of the LoRA should know: trigger words, weight, a prompt, sampling defaults."""

    trigger_words: list[str]
    weight: float = 1.0
    prompt: str = ""
    negative: str = ""
    checkpoint: str = DEFAULT_CHECKPOINT
    steps: int = 25
    cfg: float = 7.0
    sampler: str = "euler"
    width: int = 1024
    height: int = 1024
    seed: int = 1

    @property
    def activation_text(self) -> str:
        return ", ".join(self.trigger_words)

    def positive_prompt(self) -> str:
        if self.prompt:
            return self.prompt
        return self.activation_text or "a photo"


def a1111_sidecar(hints: UsageHints, notes: str, description: str = "") -> str:
    values = {
        "description": description,
        "sd version": "SDXL",
        "activation text": hints.activation_text,
        "preferred weight": hints.weight,
        "negative text": hints.negative,
        "notes": notes,
    }
    return json.dumps({field: values[field] for field in A1111_FIELDS}, indent=4, ensure_ascii=False) + "\n"


def comfyui_workflow(lora_file_name: str, hints: UsageHints) -> dict:
    """A ComfyUI prompt graph: checkpoint -> LoRA -> two text encodes -> KSampler -> VAE decode -> save."""
    sampler, scheduler = COMFY_SAMPLERS.get(hints.sampler, ("euler", "normal"))
    return {
        "1": _node("CheckpointLoaderSimple", "Load base checkpoint", ckpt_name=hints.checkpoint),
        "2": _node("LoraLoader", "Load LoRA", model=["1", 0], clip=["1", 1], lora_name=lora_file_name,
                   strength_model=hints.weight, strength_clip=hints.weight),
        "3": _node("CLIPTextEncode", "Positive prompt", text=hints.positive_prompt(), clip=["2", 1]),
        "4": _node("CLIPTextEncode", "Negative prompt", text=hints.negative, clip=["2", 1]),
        "5": _node("EmptyLatentImage", "Image size", width=hints.width, height=hints.height, batch_size=1),
        "6": _node("KSampler", "Sampler", model=["2", 0], seed=hints.seed, steps=hints.steps, cfg=hints.cfg,
                   sampler_name=sampler, scheduler=scheduler, positive=["3", 0], negative=["4", 0],
                   latent_image=["5", 0], denoise=1.0),
        "7": _node("VAEDecode", "Decode", samples=["6", 0], vae=["1", 2]),
        "8": _node("SaveImage", "Save", images=["7", 0], filename_prefix=lora_file_name.rsplit(".", 1)[0]),
    }


def _node(class_type: str, title: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


def training_notes(metadata: dict[str, str], job_name: str | None, validation: str | None) -> str:
    """A short plain-text note on how the LoRA was made, from its own metadata."""
    parts = []
    if job_name:
        parts.append(f"Trained with kohya-wrap, job {job_name}.")
    facts = [("network", metadata.get("ss_network_module")), ("rank", metadata.get("ss_network_dim")),
             ("alpha", metadata.get("ss_network_alpha")), ("steps", metadata.get("ss_steps") or metadata.get("ss_max_train_steps")),
             ("base", metadata.get("ss_sd_model_name") or metadata.get("ss_base_model_version")),
             ("resolution", metadata.get("ss_resolution") or metadata.get("modelspec.resolution"))]
    known = [f"{label} {value}" for label, value in facts if value not in (None, "", "None")]
    if known:
        parts.append("; ".join(known) + ".")
    if validation:
        parts.append(validation)
    return " ".join(parts)

"""Is the base model a real SDXL checkpoint? Read from the file's header only (never the weights), so a wrong,
empty or truncated file fails in a second instead of after the model load on a paid GPU."""

from __future__ import annotations

import json
import struct
from pathlib import Path

# The single-file layout sd-scripts' load_models_from_sdxl_checkpoint splits by prefix (sdxl_model_util.py).
SDXL_PARTS = {
    "model.diffusion_model.": "the U-Net",
    "conditioner.embedders.0.transformer.": "text encoder 1 (CLIP ViT-L)",
    "conditioner.embedders.1.model.": "text encoder 2 (OpenCLIP ViT-bigG)",
    "first_stage_model.": "the VAE",
}
# SDXL base's size conditioning: present in SDXL, absent from SD 1.x/2.x U-Nets
SDXL_LABEL_EMB = ("model.diffusion_model.label_emb.0.0.weight", [1280, 2816])
# other files people pass as --model, told apart by a key prefix or infix
OTHER_KINDS = (
    ("lora_unet_", "a LoRA (kohya format), not a base model"),
    ("lora_te", "a LoRA (kohya format), not a base model"),
    (".lora_down.", "a LoRA, not a base model"),
    ("cond_stage_model.transformer.", "a Stable Diffusion 1.x checkpoint, not SDXL"),
    ("cond_stage_model.model.", "a Stable Diffusion 2.x checkpoint, not SDXL"),
    ("double_blocks.", "a FLUX model, not SDXL"),
    ("joint_blocks.", "a Stable Diffusion 3 model, not SDXL"),
    ("down_blocks.", "a single diffusers component (a U-Net or VAE), not a whole checkpoint"),
    ("encoder.down.", "a VAE on its own, not a whole checkpoint"),
)
DIFFUSERS_PARTS = ("unet", "text_encoder", "text_encoder_2", "vae")
MAX_HEADER = 100 * 2**20
SDXL_SIZE_HINT = "an SDXL base checkpoint (e.g. sd_xl_base_1.0.safetensors, about 6.9 GB)"


def read_header(path: Path) -> dict:
    """The JSON header of a safetensors file; ValueError when it is not one."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError(f"only {size} bytes long")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER or length + 8 > size:
            raise ValueError("its first bytes are not a safetensors header")
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a tensor index")  # noqa: TRY004 (one error type: not safetensors)
    return header


def model_problem(path: Path, *, separate_vae: bool = False) -> str | None:
    """Why PATH cannot be the SDXL base sd-scripts loads, or None when it can."""
    path = Path(path).expanduser()
    if path.is_dir():
        return diffusers_problem(path)
    size = path.stat().st_size
    if size == 0:
        return f"{path} is empty (0 bytes): an interrupted download or copy? Expected {SDXL_SIZE_HINT}"
    if path.suffix.lower() in (".ckpt", ".pt", ".pth", ".bin"):
        return _pickle_problem(path)
    try:
        header = read_header(path)
    except ValueError as error:
        return f"{path} is not a safetensors file ({error}); expected {SDXL_SIZE_HINT}"
    return truncation_problem(path, header, size) or layout_problem(
        path, [key for key in header if key != "__metadata__"], header, separate_vae)


def truncation_problem(path: Path, header: dict, size: int) -> str | None:
    """A safetensors file shorter than its own header promises: a download or copy that stopped early."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and len(entry.get("data_offsets") or ()) == 2]
    expected = 8 + length + max(ends, default=0)
    if size < expected:
        return (f"{path} is truncated: {size} of the {expected} bytes its header promises (an interrupted download "
                "or copy); download it again")
    return None


def layout_problem(path: Path, keys: list[str], header: dict, separate_vae: bool = False) -> str | None:
    """The SDXL single-file key layout, or what the file is instead."""
    for marker, kind in OTHER_KINDS:
        if any(key.startswith(marker) or (marker.startswith(".") and marker in key) for key in keys):
            return f"{path} is {kind}; expected {SDXL_SIZE_HINT}"
    needed = {prefix: what for prefix, what in SDXL_PARTS.items() if not (separate_vae and prefix == "first_stage_model.")}
    missing = [what for prefix, what in needed.items() if not any(key.startswith(prefix) for key in keys)]
    if missing:
        return (f"{path} lacks {', '.join(missing)} of the SDXL checkpoint layout ({len(keys)} tensors); "
                f"expected {SDXL_SIZE_HINT}")
    key, shape = SDXL_LABEL_EMB
    found = header.get(key, {}).get("shape") if isinstance(header.get(key), dict) else None
    if found != shape:
        return (f"{path} has an SDXL-like layout but not SDXL base's U-Net ({key} is {found or 'missing'}, base "
                f"has {shape}): a refiner? Expected {SDXL_SIZE_HINT}")
    return None


def diffusers_problem(folder: Path) -> str | None:
    """A diffusers SDXL pipeline folder: model_index.json naming an SDXL pipeline, and its component folders."""
    index = folder / "model_index.json"
    if not index.is_file():
        return (f"{folder} is a folder without model_index.json: not a diffusers model folder; give "
                f"{SDXL_SIZE_HINT} or a diffusers SDXL folder")
    try:
        name = str(json.loads(index.read_text(encoding="utf-8")).get("_class_name", ""))
    except (ValueError, UnicodeDecodeError, AttributeError):
        return f"{index} is not valid JSON"
    if "StableDiffusionXL" not in name:
        return f"{folder} is a diffusers {name or 'model'} folder, not an SDXL pipeline (StableDiffusionXLPipeline)"
    missing = [part for part in DIFFUSERS_PARTS if not (folder / part).is_dir()]
    if missing:
        return f"{folder} lacks the diffusers component folder(s) {', '.join(missing)}"
    return None


def _pickle_problem(path: Path) -> str | None:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    # torch.save writes a zip (PK..) since torch 1.6, a bare pickle (0x80 protocol byte) before
    if magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80":
        return None
    return f"{path} is neither a torch checkpoint (zip or pickle) nor safetensors; expected {SDXL_SIZE_HINT}"

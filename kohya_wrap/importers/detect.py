"""Tell from a file's content which tool wrote it: kohya_ss JSON, LoRA_Easy TOML, sd-scripts TOML or a LoRA."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.tomlcompat import TOMLDecodeError, loads

FORMATS = ("kohya-ss", "lora-easy", "sd-scripts", "lora")
# Fields only kohya_ss' GUI writes into its JSON (sd-scripts calls them otherwise or has no such argument).
KOHYA_FIELDS = {"LoRA_type", "max_resolution", "sdxl_no_half_vae", "lr_warmup", "optimizer", "additional_parameters",
                "LyCORIS_preset", "train_batch_size", "epoch", "sdxl"}
WIDGET_TABLES = {"general_args", "network_args", "optimizer_args", "saving_args", "bucket_args", "noise_args",
                 "sample_args", "logging_args", "flux_args", "extra_args"}


def load(path: Path) -> tuple[str, object]:
    """(format, parsed content) for PATH, judged by what is inside it, not by its name."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise KohyaWrapError(f"Cannot read {path}: {error.strerror}.") from None
    if len(raw) >= 8 and raw[:1] != b"{" and raw[8:9] == b"{":
        return "lora", None
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        return _json_format(path, data), data
    try:
        table = loads(text)
    except TOMLDecodeError as error:
        raise KohyaWrapError(f"{path.name} is neither JSON, TOML nor a .safetensors file ({error}).",
                             hint="import a kohya_ss JSON, a LoRA_Easy or sd-scripts TOML, or a LoRA file") from None
    return toml_format(path, table), table


def _json_format(path: Path, data: dict) -> str:
    if "__metadata__" in data:
        return "lora"
    if KOHYA_FIELDS & set(data):
        return "kohya-ss"
    raise KohyaWrapError(f"{path.name} is JSON but not a kohya_ss GUI config (none of its fields, e.g. LoRA_type, "
                         "max_resolution, optimizer).", hint="pass --from to say what it is")


def toml_format(path: Path, data: dict) -> str:
    if "meta" in data and isinstance(data["meta"], dict) and ("network" in data or "dataset" in data):
        raise KohyaWrapError(f"{path.name} is already a kohya-wrap preset.",
                             hint=f"check it with: kohya-wrap config validate {path}")
    widget = [name for name in WIDGET_TABLES & set(data) if isinstance(data[name], dict)
              and {"args", "dataset_args"} & set(data[name])]
    if widget or "train_mode" in data or isinstance(data.get("subsets"), list):
        return "lora-easy"
    return "sd-scripts"

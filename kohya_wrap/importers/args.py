"""Place sd-scripts arguments into a preset's sections, typed as the pinned parser expects, or drop them with why."""

from __future__ import annotations

import shlex

from kohya_wrap.config.argtable import SCALAR_LISTS, ArgSpec, check_value, load_table
from kohya_wrap.config.resolve import RESERVED_ARGS
from kohya_wrap.config.schema import DatasetSection
from kohya_wrap.importers.record import Imported
from kohya_wrap.presets.suggest import closest

SECTIONS = {
    "model": {"pretrained_model_name_or_path", "vae", "no_half_vae", "sdpa", "xformers", "mem_eff_attn", "lowram",
              "highvram", "fp8_base", "fp8_base_unet", "max_token_length", "clip_skip", "v_parameterization",
              "disable_mmap_load_safetensors", "full_fp16", "full_bf16"},
    "network": {"dim_from_weights", "scale_weight_norms", "base_weights", "base_weights_multiplier"},
    "optimizer": {"learning_rate", "unet_lr", "text_encoder_lr", "max_grad_norm"},
    "saving": {"output_name", "training_comment", "no_metadata"},
}
PREFIXES = (("network_", "network"), ("optimizer_", "optimizer"), ("lr_", "optimizer"), ("save_", "saving"),
            ("metadata_", "saving"), ("huggingface_", "saving"), ("log_", "logging"), ("wandb_", "logging"),
            ("sample_", "sample"))
# sd-scripts argument -> [dataset] key, where the names differ.
DATASET_RENAMES = {"train_batch_size": "batch_size", "train_data_dir": "train_dir", "reg_data_dir": "reg_dir"}
DATASET_KEYS = set(DatasetSection.model_fields) - {"train_dir", "reg_dir", "num_repeats", "class_tokens"}
SECRETS = {"wandb_api_key", "huggingface_token"}


def section_of(name: str) -> str:
    for section, names in SECTIONS.items():
        if name in names:
            return section
    for prefix, section in PREFIXES:
        if name.startswith(prefix):
            return section
    return "training"


def place_arg(imp: Imported, name: str, value, source_field: str, how: str = "") -> None:
    """One sd-scripts argument -> its preset section (or [dataset]); reserved, unknown or mistyped -> dropped."""
    if name == "sample_prompts" and isinstance(value, list):
        imp.put("sample", name, [str(line) for line in value], source_field, how)
    elif name in SECRETS:
        imp.drop(source_field, "(hidden)", "a secret: kohya-wrap never copies credentials into a preset")
    elif name in DATASET_RENAMES or name in DATASET_KEYS or name == "resolution":
        place_dataset(imp, DATASET_RENAMES.get(name, name), value, source_field, how)
    elif name in RESERVED_ARGS:
        imp.drop(source_field, value, f"set by kohya-wrap: {RESERVED_ARGS[name]}")
    elif name not in load_table():
        guess = closest(name, load_table())
        imp.drop(source_field, value, "not an argument of sdxl_train_network.py at the pinned commit"
                 + (f" (did you mean {guess!r}?)" if guess else ""))
    else:
        spec = load_table()[name]
        typed, change = coerce(spec, value)
        problem = check_value(spec, typed)
        if problem:
            imp.drop(source_field, value, f"not a valid value for --{name}: {problem}")
        else:
            imp.put(section_of(name), name, typed, source_field, _join(how, change))


def place_dataset(imp: Imported, key: str, value, source_field: str, how: str = "") -> None:
    """A dataset-level value -> [dataset].key, typed for kohya-wrap's dataset section."""
    if key == "resolution":
        value, change = parse_resolution(value)
        how = _join(how, change)
    elif key in ("train_dir", "reg_dir"):
        how = how or "folder field: becomes the dataset source"
    else:
        expected = DatasetSection.model_fields[key].annotation
        typed = value
        if expected is int and isinstance(value, (str, float)) and not isinstance(value, bool):
            typed = int(float(value))
        elif expected is float and isinstance(value, str):
            typed = float(value)
        if typed != value or type(typed) is not type(value):
            how, value = _join(how, f"{value!r} read as {typed!r}"), typed
    imp.put("dataset", key, value, source_field, how)


def parse_resolution(value) -> tuple[object, str]:
    """'1024,1024' / [1024, 1024] / 1024 -> 1024 (square) or [width, height]."""
    if isinstance(value, str):
        sizes = [int(float(part)) for part in value.replace("x", ",").split(",") if part.strip()]
    elif isinstance(value, (list, tuple)):
        sizes = [int(part) for part in value]
    else:
        return int(value), ""
    size = sizes[0] if len(set(sizes)) == 1 else sizes
    return size, f"{value!r} written as {size!r}"


def coerce(spec: ArgSpec, value) -> tuple[object, str]:
    """VALUE typed for SPEC (the GUIs store numbers as strings); the second item says what changed."""
    if spec.is_list and not isinstance(value, list) and spec.name not in SCALAR_LISTS:
        value = value.split() if isinstance(value, str) else [value]
    items = value if isinstance(value, list) else [value]
    typed = [_scalar(spec.type, item) for item in items]
    result = typed if isinstance(value, list) else typed[0]
    changed = result != value or type(result) is not type(value)
    return result, (f"{value!r} read as {result!r}" if changed and not isinstance(value, list) else "")


def _scalar(kind: str, item):
    try:
        if kind == "bool" and isinstance(item, (int, str)) and not isinstance(item, bool):
            return str(item).strip().lower() in ("1", "true", "yes") if isinstance(item, str) else bool(item)
        if kind == "int" and isinstance(item, (str, float)) and not isinstance(item, bool):
            return int(float(item)) if float(item).is_integer() else item
        if kind in ("float", "int_or_float") and isinstance(item, str):
            number = float(item)
            return int(number) if kind == "int_or_float" and number.is_integer() and "." not in item else number
    except ValueError:
        return item
    return item


def parse_command_line(text: str, table: dict[str, ArgSpec] | None = None) -> list[tuple[str, object, str]]:
    """'--a 1 --b=x --flag' -> [(name, value, the original words)], typed by the argument table."""
    table = table or load_table()
    words = shlex.split(text)
    found: list[tuple[str, object, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("--"):
            found.append(("", word, word))
            continue
        name, has_value, inline = word[2:].partition("=")
        values = [inline] if has_value else []
        while not has_value and index < len(words) and not words[index].startswith("--"):
            values.append(words[index])
            index += 1
        spec = table.get(name)
        found.append((name, _cli_value(spec, values), " ".join([word] + values[0 if not has_value else 1:])))
    return found


def _cli_value(spec: ArgSpec | None, values: list[str]):
    if spec is not None and spec.action in ("store_true", "store_false") and not values:
        return spec.action == "store_true"
    if spec is not None and spec.is_list:
        return values
    return values[0] if len(values) == 1 else values


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)

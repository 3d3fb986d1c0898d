"""LoRA_Easy_Training_Scripts TOML -> preset values, by the rules of its backend (utils/validation.py)."""

from __future__ import annotations

from pathlib import Path

from kohya_wrap.importers.args import DATASET_KEYS, place_arg, place_dataset
from kohya_wrap.importers.family import refuse
from kohya_wrap.importers.record import Imported
from kohya_wrap.importers.sources import SUBSET_ONLY, Subset, place_subsets
from kohya_wrap.tomlcompat import loads

LABEL = "LoRA_Easy TOML"
GUI_ONLY = {"easy_name": "the UI's name for ${replace} in output paths",
            "save_toml": "the UI's copy of its own TOML", "save_toml_location": "the UI's copy of its own TOML",
            "tag_occurrence": "the UI's tag-frequency file", "tag_file_location": "the UI's tag-frequency file"}
# The backend swaps these optimizer names for its bundled LoraEasyCustomOptimizer classes.
CUSTOM_OPTIMIZERS = {"came": "LoraEasyCustomOptimizer.came.CAME", "compass": "LoraEasyCustomOptimizer.compass.Compass",
                     "lpfadamw": "LoraEasyCustomOptimizer.lpfadamw.LPFAdamW",
                     "rmsprop": "LoraEasyCustomOptimizer.rmsprop.RMSProp"}
BLOCK_LISTS = ("down_lr_weight", "up_lr_weight", "block_dims", "block_alphas", "conv_block_dims", "conv_block_alphas")


def read(path: Path, data: dict | None = None) -> Imported:
    data = data if data is not None else loads(path.read_text(encoding="utf-8"))
    args, dataset_args = _collect(data)
    _check_family(path, data, args)
    imp = Imported("lora-easy", LABEL, path, noun="key", name=path.stem,
                   description=f"Imported from LoRA_Easy TOML {path.name}")
    imp.drop("general_args.args.sdxl", True, "kohya-wrap always runs sdxl_train_network.py, as this flag asks")
    later = _place_args(imp, args)
    _warmup_and_cycles(imp, later)
    for key, (value, where) in dataset_args.items():
        if not value or (key == "max_token_length" and value == 75):
            imp.drop(where, value, "empty or off: the backend does not pass it")
        elif key in DATASET_KEYS or key == "resolution":
            place_dataset(imp, key, value, where)
        else:
            place_arg(imp, key, value, where)
    subsets = [_subset(index, table) for index, table in enumerate(data.get("subsets", []))]
    if subsets:
        place_subsets(imp, subsets)
    return imp


def _collect(data: dict) -> tuple[dict, dict]:
    """Every widget's [name.args] and [name.dataset_args] -> {key: (value, 'name.args.key')} (later widgets win)."""
    args: dict = {}
    dataset_args: dict = {}
    for section, table in data.items():
        if section in ("subsets", "train_mode") or not isinstance(table, dict):
            continue
        for part, target in (("args", args), ("dataset_args", dataset_args)):
            for key, value in (table.get(part) or {}).items():
                target[key] = (value, f"{section}.{part}.{key}")
    return args, dataset_args


def _check_family(path: Path, data: dict, args: dict) -> None:
    mode = (data.get("train_mode") or {}).get("train_mode", "lora")
    if mode != "lora":
        raise refuse(LABEL, path, "textual inversion", f"train_mode = {mode!r}")
    if data.get("flux_args"):
        raise refuse(LABEL, path, "FLUX.1", "it has a [flux_args] table")
    if args.get("v2", (False,))[0]:
        raise refuse(LABEL, path, "Stable Diffusion 2.x", "general_args.args.v2 = true")
    if not args.get("sdxl", (False,))[0]:
        raise refuse(LABEL, path, "Stable Diffusion 1.x", "general_args.args has no sdxl = true, so its backend runs "
                     "train_network.py")


def _place_args(imp: Imported, args: dict) -> dict:
    """The backend's validate_args rules; returns the values that need the step count (warmup, cycles)."""
    later: dict = {}
    module, module_where, module_how = "networks.lora", "network_args.args", "the backend's default network"
    for key, (value, where) in args.items():
        if key == "sdxl":
            continue
        if key in ("warmup_ratio", "lr_scheduler_num_cycles"):
            later[key] = (value, where)
        elif isinstance(value, str) and value.lower() == "false" or not value and key != "network_args":
            imp.drop(where, value, "empty or off: the backend does not pass it")
        elif key in GUI_ONLY:
            imp.drop(where, value, f"UI-only: {GUI_ONLY[key]}")
        elif key == "fa":
            module, module_where, module_how = "networks.lora_fa", where, "fa = true selects LoRA-FA"
        elif key == "network_args":
            module, module_where, module_how = _network_args(imp, value, where, module, module_where, module_how)
        elif key in ("optimizer_args", "lr_scheduler_args") and isinstance(value, dict):
            words = [f"{name}={_capital(item) if key == 'optimizer_args' else item}" for name, item in value.items()]
            place_arg(imp, key, words, where, "the table written as key=value words")
        elif key == "optimizer_type" and str(value).lower() in CUSTOM_OPTIMIZERS:
            place_arg(imp, key, CUSTOM_OPTIMIZERS[str(value).lower()], where, "LoRA_Easy's bundled optimizer: "
                      "install LoraEasyCustomOptimizer into the backend's Python")
        elif key in ("output_name", "log_prefix") and "${replace}" in str(value):
            name = str(value).replace("${replace}", str(args.get("easy_name", ("",))[0]))
            place_arg(imp, key, name, where, "${replace} filled from saving_args.args.easy_name")
        else:
            place_arg(imp, key, True if str(value).lower() == "true" else value, where)
    place_arg(imp, "network_module", module, module_where, module_how)
    return later


def _network_args(imp: Imported, table: dict, where: str, module: str, module_where: str, module_how: str):
    words = []
    for name, value in table.items():
        if name == "algo":
            module, module_where, module_how = "lycoris.kohya", f"{where}.algo", f"algo = {value!r} selects LyCORIS"
        elif name == "unit":
            module, module_where, module_how = "networks.dylora", f"{where}.unit", "unit selects DyLoRA"
        if name in BLOCK_LISTS and isinstance(value, list):
            words.append(f"{name}={','.join(str(item) for item in value)}")
        elif not (name == "preset" and value == ""):
            words.append(f"{name}={value}")
    if words:
        place_arg(imp, "network_args", words, where, "the table written as key=value words")
    return module, module_where, module_how


def _capital(value):
    return value.capitalize() if value in ("true", "false") else value


def _warmup_and_cycles(imp: Imported, later: dict) -> None:
    steps = imp.get("training.max_train_steps")
    custom = imp.get("optimizer.lr_scheduler_type")
    cycles, cycles_where = later.get("lr_scheduler_num_cycles", (None, ""))
    if cycles and custom:
        if steps:
            _append_scheduler_arg(imp, f"first_cycle_max_steps={steps // cycles}", cycles_where,
                                  f"{steps} steps / {cycles} cycles, as the backend does for its custom schedulers")
        else:
            imp.drop(cycles_where, cycles, "the backend turns it into first_cycle_max_steps from the step count, which "
                     "needs the dataset: set it in optimizer.lr_scheduler_args")
    elif cycles:
        place_arg(imp, "lr_scheduler_num_cycles", cycles, cycles_where)
    ratio, where = later.get("warmup_ratio", (None, ""))
    if not ratio:
        return
    if steps:
        warmup = round(steps * ratio)
        if custom:
            _append_scheduler_arg(imp, f"warmup_steps={warmup // (cycles or 1)}", where, f"ratio {ratio} of {steps} steps")
        else:
            place_arg(imp, "lr_warmup_steps", warmup, where, f"ratio {ratio} x max_train_steps {steps}, rounded")
    elif custom:
        imp.drop(where, ratio, "the backend turns it into warmup_steps from the step count, which needs the dataset")
    else:
        place_arg(imp, "lr_warmup_steps", float(ratio), where, f"ratio {ratio}: sd-scripts reads a fraction as a share "
                  "of the total steps, which the backend computes the same way from the dataset")


def _append_scheduler_arg(imp: Imported, word: str, where: str, how: str) -> None:
    words = list(imp.get("optimizer.lr_scheduler_args") or []) + [word]
    place_arg(imp, "lr_scheduler_args", words, where, how)


def _subset(index: int, table: dict) -> Subset:
    options = {key: value for key, value in table.items() if key not in SUBSET_ONLY and value}
    return Subset(f"subsets[{index}]", table.get("image_dir"), int(table.get("num_repeats", 1)),
                  table.get("class_tokens"), bool(table.get("is_reg", False)), options)

"""sd-scripts' own TOMLs: a --config_file (flat, sectioned, or written by --output_config) and a --dataset_config."""

from __future__ import annotations

from pathlib import Path

from kohya_wrap.importers.args import DATASET_KEYS, place_arg, place_dataset
from kohya_wrap.importers.family import family_from_args, refuse
from kohya_wrap.importers.record import Dropped, Imported
from kohya_wrap.importers.sources import SUBSET_ONLY, Subset, place_subsets
from kohya_wrap.tomlcompat import loads

LABEL = "sd-scripts config"
DATASET_LABEL = "sd-scripts dataset config"


def is_dataset_config(data: dict) -> bool:
    return isinstance(data.get("datasets"), list) or (isinstance(data.get("general"), dict) and len(data) <= 2)


def flatten(data: dict) -> dict[str, tuple[object, str]]:
    """sd-scripts' rule: a table's keys count as top-level keys, the later one winning; value -> (value, where)."""
    flat: dict[str, tuple[object, str]] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                flat[key] = (inner, f"{name}.{key}")
        else:
            flat[name] = (value, name)
    return flat


def read(path: Path, data: dict | None = None, dataset_config: Path | None = None) -> Imported:
    data = data if data is not None else loads(path.read_text(encoding="utf-8"))
    if is_dataset_config(data):
        imp = Imported("sd-scripts", DATASET_LABEL, path, noun="key", name=path.stem,
                       description=f"Imported from sd-scripts dataset config {path.name}")
        read_dataset_config(imp, path, data)
        return imp
    flat = flatten(data)
    found = family_from_args({key: value for key, (value, _where) in flat.items()})
    if found:
        raise refuse(LABEL, path, *found)
    imp = Imported("sd-scripts", LABEL, path, noun="key", name=path.stem,
                   description=f"Imported from sd-scripts config {path.name}")
    imp.note("an sd-scripts config does not name its model family: it is taken to be for sdxl_train_network.py")
    for key, (value, where) in flat.items():
        if key == "dataset_config":
            continue
        place_arg(imp, key, value, where)
    _linked_dataset(imp, path, flat, dataset_config)
    return imp


def _linked_dataset(imp: Imported, path: Path, flat: dict, given: Path | None) -> None:
    named = flat.get("dataset_config")
    if given is not None:
        merge_dataset_config(imp, given)
        if named is not None:
            imp.drop(named[1], named[0], "replaced by --dataset-config")
    elif named is not None:
        link_dataset_config(imp, path, named[0], named[1])


def link_dataset_config(imp: Imported, source: Path, named, where: str) -> None:
    """Read the dataset config a config names (as given, or next to the config), or say why not."""
    candidate = Path(str(named)).expanduser()
    for option in (candidate, source.parent / candidate.name) if not candidate.is_absolute() else (candidate,):
        if option.is_file():
            imp.seen.add(where)
            merge_dataset_config(imp, option)
            return
    imp.drop(where, named, "the dataset config it names is not there: pass it with --dataset-config")


def merge_dataset_config(imp: Imported, path: Path) -> None:
    dataset_imp = Imported("sd-scripts", DATASET_LABEL, path, noun="key")
    read_dataset_config(dataset_imp, path, loads(path.read_text(encoding="utf-8")))
    _merge(imp, dataset_imp)


def _merge(imp: Imported, other: Imported) -> None:
    """The dataset config's values win over the config file's, as in sd-scripts (subset > dataset > general > args)."""
    for value in other.values.values():
        earlier = imp.values.get(value.target if value.section == "dataset" else value.key)
        if earlier is not None:
            imp.dropped.append(Dropped(earlier.source, earlier.value, f"overridden by {value.source}"))
        imp.values[value.target if value.section == "dataset" else value.key] = value
    imp.dropped += other.dropped
    imp.notes += [f"{other.source.name}: {note}" for note in other.notes]


def read_dataset_config(imp: Imported, path: Path, data: dict) -> None:
    """[general] + the first [[datasets]] -> [dataset]; its [[datasets.subsets]] -> the dataset sources."""
    datasets = data.get("datasets") or [{}]
    general = data.get("general") or {}
    for extra in range(1, len(datasets)):
        imp.drop(f"datasets[{extra}]", f"{len(datasets[extra].get('subsets', []))} subsets", "a kohya-wrap preset "
                 "describes one dataset (one resolution and batch size); only datasets[0] is imported")
    dataset = datasets[0]
    for table, prefix in ((general, "general"), (dataset, "datasets[0]")):
        for key, value in table.items():
            if key == "subsets":
                continue
            if key in SUBSET_ONLY:
                imp.drop(f"{prefix}.{key}", value, "a subset option outside a subset: set it per subset")
            elif key in DATASET_KEYS or key == "resolution":
                place_dataset(imp, key, value, f"{prefix}.{key}")
            else:
                place_arg(imp, key, value, f"{prefix}.{key}")
    subsets = [_subset(index, table) for index, table in enumerate(dataset.get("subsets", []))]
    if subsets:
        place_subsets(imp, subsets)


def _subset(index: int, table: dict) -> Subset:
    options = {key: value for key, value in table.items() if key not in SUBSET_ONLY}
    return Subset(f"datasets[0].subsets[{index}]", table.get("image_dir"), int(table.get("num_repeats", 1)),
                  table.get("class_tokens"), bool(table.get("is_reg", False)), options)

"""Dataset subsets (sd-scripts dataset TOML, LoRA_Easy [[subsets]], LoRA metadata) -> a preset's dataset sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath, PureWindowsPath

from kohya_wrap.dataset.rules import parse_folder_name
from kohya_wrap.importers.args import DATASET_KEYS, place_arg, place_dataset
from kohya_wrap.importers.record import Imported

SUBSET_ONLY = {"image_dir", "num_repeats", "class_tokens", "is_reg", "name", "img_count", "metadata_file"}


@dataclass
class Subset:
    """One subset as the source describes it; `field` names it for provenance (e.g. `subsets[1]`)."""

    field: str
    image_dir: str | None
    num_repeats: int = 1
    class_tokens: str | None = None
    is_reg: bool = False
    options: dict = field(default_factory=dict)

    @property
    def folder(self) -> PurePath:
        return (PureWindowsPath if "\\" in (self.image_dir or "") else PurePosixPath)(self.image_dir or "")


def place_subsets(imp: Imported, subsets: list[Subset], *, paths_known: bool = True) -> None:
    """Training and regularisation subsets -> dataset.train_dir / reg_dir (+ repeats), their options -> [dataset]."""
    train = [subset for subset in subsets if not subset.is_reg]
    reg = [subset for subset in subsets if subset.is_reg]
    for group, key in ((train, "train_dir"), (reg, "reg_dir")):
        if group:
            _place_group(imp, group, key, paths_known)
    _place_options(imp, train or reg)


def _place_group(imp: Imported, group: list[Subset], key: str, paths_known: bool) -> None:
    first = group[0]
    if len(group) > 1 and _is_repeat_layout(group):
        if paths_known:
            parent = str(first.folder.parent)
            imp.put("dataset", key, parent, f"{first.field}.image_dir",
                    f"parent of the {len(group)} <repeats>_<name> subset folders; kohya-wrap scans it as sd-scripts "
                    "scans train_data_dir (any other N_name folder in it is trained too)")
        return
    if paths_known:
        imp.put("dataset", key, first.image_dir, f"{first.field}.image_dir", "the subset folder becomes the dataset source")
    _place_repeats(imp, first, key)
    for other in group[1:]:
        imp.drop(f"{other.field}", other.image_dir, "a kohya-wrap preset holds one training and one regularisation "
                 "folder: put the subsets as <repeats>_<name> folders side by side (kohya-wrap data prepare), then "
                 "point dataset.train_dir at their parent")


def _place_repeats(imp: Imported, subset: Subset, key: str) -> None:
    from_name, _tokens = parse_folder_name(subset.folder.name)
    where = f"{subset.field}.num_repeats"
    if from_name is not None and from_name >= 1:
        if from_name != subset.num_repeats:
            imp.drop(where, subset.num_repeats, f"kohya-wrap takes the repeats of {subset.folder.name!r} from its name "
                     f"({from_name}); rename the folder to {subset.num_repeats}_... to keep {subset.num_repeats}")
        return
    if key == "reg_dir":
        if subset.num_repeats != imp.get("dataset.num_repeats", 1):
            imp.drop(where, subset.num_repeats, "dataset.num_repeats applies to both flat folders; name the "
                     f"regularisation folder {subset.num_repeats}_<class> to keep its own repeats")
        return
    if subset.num_repeats != 1:
        imp.put("dataset", "num_repeats", subset.num_repeats, where)
    if subset.class_tokens:
        imp.put("dataset", "class_tokens", subset.class_tokens, f"{subset.field}.class_tokens")


def _is_repeat_layout(group: list[Subset]) -> bool:
    """Every folder is named <repeats>_<tokens> matching its own repeats and class tokens, all in one parent."""
    if len({str(subset.folder.parent) for subset in group}) != 1:
        return False
    for subset in group:
        repeats, tokens = parse_folder_name(subset.folder.name)
        if repeats != subset.num_repeats or (subset.class_tokens and subset.class_tokens != tokens):
            return False
    return True


def _place_options(imp: Imported, group: list[Subset]) -> None:
    """Per-subset caption/augmentation options: one value for the preset when every subset agrees."""
    names = sorted({name for subset in group for name in subset.options})
    for name in names:
        holders = [subset for subset in group if name in subset.options]
        first = holders[0]
        value = first.options[name]
        source = f"{first.field}.{name}"
        disagree = [subset for subset in holders[1:] if subset.options[name] != value]
        if name in DATASET_KEYS:
            place_dataset(imp, name, value, source)
        else:
            place_arg(imp, name, value, source)
        for other in disagree:
            imp.drop(f"{other.field}.{name}", other.options[name], f"differs from {first.field}; a kohya-wrap preset "
                     "sets one value for every subset")

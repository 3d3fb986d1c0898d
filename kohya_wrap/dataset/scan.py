"""Scan a training root (sd-scripts folder-repeat layout, or one flat folder) into subsets and findings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.dataset import rules
from kohya_wrap.dataset.findings import Finding, error, info, warning
from kohya_wrap.errors import DatasetError

LAYOUT_HINT = "Use <root>/<repeats>_<class tokens>/ folders, e.g. train/10_ohwx woman/img1.png"


@dataclass
class Subset:
    """One [[datasets.subsets]] entry: a folder of images trained `num_repeats` times per epoch."""

    image_dir: Path
    num_repeats: int
    class_tokens: str | None
    is_reg: bool = False
    images: list[Path] = field(default_factory=list)
    captions: list[Path | None] = field(default_factory=list)  # parallel to images; None = no caption file

    @property
    def missing_captions(self) -> list[Path]:
        return [image for image, caption in zip(self.images, self.captions) if caption is None]

    def to_dataset_toml(self) -> dict:
        table: dict = {"image_dir": str(self.image_dir), "num_repeats": self.num_repeats}
        if self.class_tokens:
            table["class_tokens"] = self.class_tokens
        if self.is_reg:
            table["is_reg"] = True
        return table

    def to_dict(self, with_images: bool = False) -> dict:
        value = {**self.to_dataset_toml(), "is_reg": self.is_reg, "images": len(self.images),
                 "images_with_repeats": len(self.images) * self.num_repeats,
                 "missing_captions": len(self.missing_captions)}
        if with_images:
            value["image_files"] = [str(path) for path in self.images]
        return value


@dataclass
class ScanResult:
    subsets: list[Subset]
    findings: list[Finding]

    def to_dict(self, with_images: bool = False) -> dict:
        return {"subsets": [subset.to_dict(with_images) for subset in self.subsets],
                "findings": [finding.to_dict() for finding in self.findings]}


def prepared_parts(root: Path) -> tuple[Path, Path | None] | None:
    """(img/, reg/ or None) when root is a `kohya-wrap data prepare` output folder, else None.

    A root counts as prepared when it holds the prepare manifest, or (copied without it) when it holds an
    img/ folder and nothing sd-scripts would train from itself (no repeat folders, no images)."""
    root = Path(root).expanduser()
    train, reg = root / rules.PREPARED_TRAIN, root / rules.PREPARED_REG
    if not train.is_dir():
        return None
    if not (root / rules.PREPARED_MANIFEST).is_file():
        entries = [entry for entry in os.scandir(root) if not rules.is_hidden(entry.name)]
        if any(rules.parse_folder_name(e.name)[0] is not None and e.is_dir() for e in entries) \
                or rules.list_images(root):
            return None
    return train, (reg if reg.is_dir() else None)


def resolve_roots(train_dir: Path, reg_dir: Path | None = None, *, with_reg: bool = True):
    """(train root, reg root, note): a prepared root stands for its img/ (and, unless given, its reg/)."""
    parts = prepared_parts(train_dir) if Path(train_dir).expanduser().is_dir() else None
    if parts is None:
        return train_dir, reg_dir, None
    train, found_reg = parts
    reg_dir = reg_dir if reg_dir is not None or not with_reg else found_reg
    note = info("prepared-root", Path(train_dir).expanduser().absolute(),
                f"{train_dir} is a `kohya-wrap data prepare` folder: training images come from "
                f"{rules.PREPARED_TRAIN}/" + (f", regularisation images from {reg_dir}" if reg_dir else "") + ".")
    return train, reg_dir, note


def scan_dataset(train_dir: Path, reg_dir: Path | None = None, caption_extension: str = ".txt", *,
                 with_reg: bool = True) -> ScanResult:
    """Subsets as sd-scripts would build them from train_dir (and reg_dir), plus every surprise found.
    A `data prepare` output root is read as its img/ and reg/ (with_reg=False: img/ only)."""
    subsets: list[Subset] = []
    findings: list[Finding] = []
    train_dir, reg_dir, note = resolve_roots(train_dir, reg_dir, with_reg=with_reg)
    if note is not None:
        findings.append(note)
    for root, is_reg in ((train_dir, False), (reg_dir, True)):
        if root is not None:
            found, notes = _scan_root(_absolute(root), is_reg, caption_extension)
            subsets += found
            findings += notes
    return ScanResult(subsets, findings)


def _absolute(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a folder"
        raise DatasetError(f"Dataset folder {path} {what}.", hint=LAYOUT_HINT)
    return path.absolute()


def _scan_root(root: Path, is_reg: bool, ext: str) -> tuple[list[Subset], list[Finding]]:
    findings: list[Finding] = []
    subsets: list[Subset] = []
    folder_like = 0
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not os.path.isdir(root / entry.name):  # follows links, never raises (like Path.is_dir)
            continue
        repeats, tokens = rules.parse_folder_name(entry.name)
        folder = root / entry.name
        if repeats is not None:
            folder_like += 1
        if repeats is None or repeats < 1:
            findings += _skipped_folder(folder, repeats)
            continue
        subset, notes = _scan_subset(folder, repeats, tokens or None, is_reg, ext)
        if not tokens:
            notes.append(info("no-class-tokens", folder, f"Folder {entry.name!r} names no class tokens; "
                              "images without a caption file train with an empty caption.",
                              "Name it <repeats>_<class tokens>, e.g. 10_ohwx woman."))
        subsets.append(subset)
        findings += notes
    root_images = rules.list_images(root)
    if root_images and not folder_like:
        return _flat_root(root, is_reg, ext, findings)
    if root_images:
        findings.append(warning("root-images-ignored", root, f"{len(root_images)} images sit directly in {root}; "
                                "sd-scripts only reads the <repeats>_<class> subfolders.",
                                "Move them into a repeat folder, e.g. 1_<class>/."))
    if not any(subset.images for subset in subsets):
        kind = "regularisation" if is_reg else "training"
        findings.append((warning if is_reg else error)(
            "no-data", root, f"No {kind} images found in {root} (sd-scripts: 'No data found').", LAYOUT_HINT))
    return subsets, findings


def _flat_root(root: Path, is_reg: bool, ext: str, findings: list[Finding]) -> tuple[list[Subset], list[Finding]]:
    repeats, tokens = rules.parse_folder_name(root.name)
    if repeats is not None and repeats >= 1:
        note = (f"{root.name!r} is itself a repeat folder: used as one subset with {repeats} repeats"
                f"{' and class tokens ' + repr(tokens) if tokens else ''}. As train_data_dir sd-scripts would "
                "find no data here; kohya-wrap writes it into the dataset TOML as an explicit subset.")
    else:
        repeats, tokens = 1, ""
        note = (f"{root} holds images directly (no <repeats>_<class> subfolders): used as one subset with "
                "num_repeats 1 and no class tokens.")
    subset, notes = _scan_subset(root, repeats, tokens or None, is_reg, ext)
    findings.append(info("flat-folder", root, note, "Set repeats and class tokens in the config, or use "
                         "`kohya-wrap data prepare` to build a repeat layout."))
    return [subset], findings + notes


def _skipped_folder(folder: Path, repeats: int | None) -> list[Finding]:
    count = _count_image_like(folder)
    if count == 0:
        return [info("ignored-folder", folder, f"Folder {folder.name!r} has no images and is ignored.")]
    if repeats is None:
        return [warning("bad-folder-name", folder, f"sd-scripts skips {folder.name!r} ({count} images): the part "
                        "before the first '_' is not a whole number of repeats.",
                        f"Rename it to e.g. '10_{folder.name}'.")]
    return [warning("zero-repeats", folder, f"sd-scripts silently skips {folder.name!r} ({count} images): "
                    f"repeats {repeats} is less than 1.", "Use a repeat count of 1 or more.")]


def _count_image_like(folder: Path) -> int:
    total = 0
    for _dirpath, _dirs, files in os.walk(folder):  # links to folders are not followed: no loops
        total += sum(1 for name in files if rules.image_like_suffix(name))
    return total


def _scan_subset(folder: Path, repeats: int, tokens: str | None, is_reg: bool,
                 ext: str) -> tuple[Subset, list[Finding]]:
    images = rules.list_images(folder)
    captions = [rules.find_caption(image, ext) for image in images]
    subset = Subset(folder, repeats, tokens, is_reg, images, [path for path, _ in captions])
    findings = _entry_findings(folder, ext)
    if not images:
        findings.append(warning("empty-subset", folder, f"sd-scripts ignores {folder.name!r}: no images it can read.",
                                f"Image names must end in one of {', '.join(rules.IMAGE_EXTENSIONS)}."))
    for image, (caption, via_fallback) in zip(images, captions):
        if caption is None:
            findings.append(_missing_caption(image, tokens, ext))
        elif via_fallback:
            findings.append(info("caption-fallback-name", image, f"No {image.stem}{ext}; sd-scripts reads "
                                 f"{caption.name} instead (names with 4+ '_' are face-crop names).",
                                 f"Add {image.stem}{ext} if that caption is not meant for this image."))
    claimed = {path for path, _ in captions if path is not None}
    for orphan in sorted(set(_caption_files(folder, ext)) - claimed):
        findings.append(info("orphan-caption", orphan, "Caption file without a matching image; it is not used."))
    return subset, findings


def _missing_caption(image: Path, tokens: str | None, ext: str) -> Finding:
    if tokens:
        return info("missing-caption", image, f"No caption file; sd-scripts uses the class tokens {tokens!r}.",
                    f"Add {image.stem}{ext}, or `kohya-wrap data captions DIR fill`.")
    return warning("no-caption-no-class", image, "No caption file and no class tokens: trains with an empty caption.",
                   f"Add {image.stem}{ext}, or `kohya-wrap data captions DIR fill --from filename`.")


def _caption_files(folder: Path, ext: str) -> list[Path]:
    return [folder / entry.name for entry in os.scandir(folder)
            if entry.name.endswith(ext) and not rules.is_hidden(entry.name)]


def _entry_findings(folder: Path, ext: str) -> list[Finding]:
    """Files and folders in a subset folder that sd-scripts passes over without a word."""
    findings = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name, path = entry.name, folder / entry.name
        if rules.is_listed_image(name):
            continue
        if entry.is_dir(follow_symlinks=False):
            nested = _count_image_like(path)
            if nested:
                findings.append(warning("nested-images", path, f"{nested} images in subfolder {name!r} are ignored: "
                                        "sd-scripts does not search subfolders.",
                                        "Move them up, or make the subfolder its own <repeats>_<class> folder."))
        elif rules.is_hidden(name) and (rules.image_like_suffix(name) or name.endswith(ext)):
            findings.append(warning("hidden-file", path, "Hidden file: sd-scripts' glob skips names starting with '.'.",
                                    "Rename it without the leading dot, or delete it."))
        elif rules.is_case_mismatch(name):
            findings.append(warning("ext-case", path, f"Ignored by sd-scripts: extension {os.path.splitext(name)[1]!r} "
                                    "is matched case-sensitively (.png or .PNG only).",
                                    "Rename the extension to lower case (`kohya-wrap data prepare` does this)."))
        elif name.endswith(rules.PLUGIN_EXTENSIONS):
            findings.append(warning("ext-needs-plugin", path, "AVIF/JPEG-XL files are read only when the matching "
                                    "Pillow plugin is installed in the training environment.",
                                    "Convert with `kohya-wrap data prepare --format png`."))
        elif rules.image_like_suffix(name):
            findings.append(warning("unsupported-format", path, f"sd-scripts never reads {os.path.splitext(name)[1]} "
                                    "files; this image is ignored.",
                                    "Convert with `kohya-wrap data prepare --format png`."))
    return findings

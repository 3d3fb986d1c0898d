"""sd-scripts' own dataset rules at the pinned commit, restated (facts, not its code).

Sources (library/train_util.py and library/config_util.py at 48d368fa):
- IMAGE_EXTENSIONS: .png .jpg .jpeg .webp .bmp and their all-upper-case forms only; .avif / .jxl
  only when the pillow-avif / JPEG-XL plugins are importable in the training environment.
- glob_images(dir): non-recursive `glob(dir/*<ext>)` per extension, de-duplicated, sorted by full path.
  Shell-style `*` never matches a leading dot, so hidden files are skipped; the match is case-sensitive
  on Linux; directories and dangling links whose names match are returned too.
- generate_dreambooth_subsets_config_by_subdirs: each direct subfolder of train_data_dir is split on
  "_"; int() of the first piece is the repeat count (ValueError -> folder skipped with a warning), the
  rest joined by "_" is the class token string; repeats < 1 are skipped without a message.
- DreamBoothDataset.read_caption: tries `<image path without extension><caption_extension>`, then, when
  that stem has at least 5 "_"-separated pieces, the same with the last 4 pieces dropped (face-crop
  naming); the file is read as UTF-8 (decode error re-raised), an empty file fails an assert, and only
  the first line (stripped) is the caption unless enable_wildcard is set.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP")
PLUGIN_EXTENSIONS = (".avif", ".AVIF", ".jxl", ".JXL")
# Suffixes users often have that sd-scripts never picks up (reported so nothing is dropped silently).
OTHER_IMAGE_SUFFIXES = (".gif", ".tif", ".tiff", ".heic", ".heif", ".jfif", ".ico", ".psd", ".tga", ".jp2")
_LOWER_EXTENSIONS = {ext.lower() for ext in IMAGE_EXTENSIONS}
# `kohya-wrap data prepare` output: <root>/img/<N>_<class>/, <root>/reg/<N>_<class>/ and this manifest
PREPARED_MANIFEST = "kohya-wrap-prepare.json"
PREPARED_TRAIN, PREPARED_REG = "img", "reg"


def parse_folder_name(name: str) -> tuple[int | None, str]:
    """(repeats, class tokens) as sd-scripts reads a subfolder name; repeats None when it skips it."""
    pieces = name.split("_")
    try:
        repeats = int(pieces[0])
    except ValueError:
        return None, ""
    return repeats, "_".join(pieces[1:])


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def is_listed_image(name: str) -> bool:
    """True when sd-scripts' glob would return this directory entry name as an image."""
    return not is_hidden(name) and name.endswith(IMAGE_EXTENSIONS)


def is_case_mismatch(name: str) -> bool:
    """`.Png`-style names: an image extension in a letter case sd-scripts does not glob for."""
    suffix = os.path.splitext(name)[1]
    return suffix.lower() in _LOWER_EXTENSIONS and suffix not in IMAGE_EXTENSIONS


def image_like_suffix(name: str) -> bool:
    """Any suffix that looks like an image to a user, listed by sd-scripts or not."""
    suffix = os.path.splitext(name)[1].lower()
    return suffix in _LOWER_EXTENSIONS or suffix in {s.lower() for s in PLUGIN_EXTENSIONS + OTHER_IMAGE_SUFFIXES}


def list_images(directory: Path) -> list[Path]:
    """The entries sd-scripts' glob_images returns for this folder, in its order."""
    try:
        names = [entry.name for entry in os.scandir(directory)]
    except OSError:
        return []
    return sorted((Path(directory) / name for name in names if is_listed_image(name)), key=str)


def caption_candidates(image: Path, caption_extension: str) -> list[str]:
    base = os.path.splitext(str(image))[0]
    candidates = [base + caption_extension]
    pieces = base.split("_")
    if len(pieces) >= 5:
        candidates.append("_".join(pieces[:-4]) + caption_extension)
    return candidates


def find_caption(image: Path, caption_extension: str) -> tuple[Path | None, bool]:
    """(caption file sd-scripts would read, whether it came from the face-crop fallback name)."""
    for index, candidate in enumerate(caption_candidates(image, caption_extension)):
        if os.path.isfile(candidate):
            return Path(candidate), index > 0
    return None, False


def own_caption_path(image: Path, caption_extension: str) -> Path:
    """Where a caption for this image is written by our tools: always the exact-stem name."""
    return Path(os.path.splitext(str(image))[0] + caption_extension)

"""Dataset content manifests: one training_datasets row per distinct content, however often it is used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kohya_wrap.tomlcompat import loads

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".avif", ".jxl"}
_HASHES: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _subsets(dataset_toml: Path) -> list[dict]:
    data = loads(dataset_toml.read_text(encoding="utf-8"))
    general = data.get("general", {})
    found = []
    for dataset in data.get("datasets", []):
        for subset in dataset.get("subsets", []):
            merged = {**general, **{k: v for k, v in dataset.items() if k != "subsets"}, **subset}
            if merged.get("image_dir"):
                found.append(merged)
    return found


def _subset_manifest(subset: dict) -> dict:
    folder = Path(subset["image_dir"])
    caption_ext = subset.get("caption_extension", ".caption")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    files, words = [], []
    for image in images:
        caption = image.with_suffix(caption_ext)
        entry = [image.name, _file_sha256(image)]
        if caption.is_file():
            entry.append(_file_sha256(caption))
            words.append(len(caption.read_text(encoding="utf-8", errors="replace").split()))
        files.append(entry)
    return {
        "image_dir": str(folder), "num_repeats": int(subset.get("num_repeats", 1)),
        "is_reg": bool(subset.get("is_reg", False)), "images": len(images),
        "captions": len(words), "files": files, "_words": words,
    }


def dataset_record(dataset_toml: Path) -> dict | None:
    """The training_datasets row for a job's dataset.toml (None when it names no subsets)."""
    subsets = [_subset_manifest(s) for s in _subsets(Path(dataset_toml))]
    if not subsets:
        return None
    # The id covers content and repeats, not where the folders are: a moved copy is the same dataset.
    content = [{k: s[k] for k in ("num_repeats", "is_reg", "files")} for s in subsets]
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    words = [w for s in subsets for w in s["_words"]]
    images = sum(s["images"] for s in subsets)
    return {
        "id": digest,
        "root": _common_root([s["image_dir"] for s in subsets]),
        "subsets": [{k: s[k] for k in ("image_dir", "num_repeats", "is_reg", "images", "captions")}
                    for s in subsets],
        "image_count": images,
        "images_per_epoch": sum(s["images"] * s["num_repeats"] for s in subsets if not s["is_reg"]),
        "caption_stats": {
            "with_caption": len(words), "missing": images - len(words),
            "mean_words": round(sum(words) / len(words), 2) if words else None,
            "min_words": min(words, default=None), "max_words": max(words, default=None),
        },
    }


def _common_root(folders: list[str]) -> str:
    parts = [Path(f).parts for f in folders]
    common = []
    for items in zip(*parts):
        if len(set(items)) != 1:
            break
        common.append(items[0])
    return str(Path(*common)) if common else ""

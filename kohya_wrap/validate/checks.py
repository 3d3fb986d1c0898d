"""Automatic checks on validation images: finite output, strength 0 = base, LoRA effect, copies of training images."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from kohya_wrap.validate.hashes import distance, hash_file

NO_EFFECT_MEAN = 0.5  # mean |difference| in 0-255 levels under which a LoRA counts as changing nothing
COPY_DISTANCE = 6  # pHash bits (of 64) at or under which an image counts as a copy of a training image
BIG = 10_000


def pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.abs(a - b).mean()), 4)


def base_of(images: list[dict]) -> dict[tuple[int, int], dict]:
    """The base image of each (prompt index, seed)."""
    return {(i["prompt_index"], i["seed"]): i for i in images if i["lora"] is None}


def check_finite(images: list[dict]) -> dict:
    bad = [i["path"] for i in images if not i.get("finite", False)]
    return {"ok": not bad, "bad": bad}


def check_strength_zero(images: list[dict], run_dir: Path) -> dict:
    """Strength 0 must render the base exactly: the same float output, hence the same pixels."""
    bases = base_of(images)
    checked, mismatches = 0, []
    for image in images:
        if image["lora"] is None or image["strength"] != 0:
            continue
        base = bases[(image["prompt_index"], image["seed"])]
        checked += 1
        same_float = image.get("sha256") == base.get("sha256")
        diff = mean_abs_diff(pixels(run_dir / image["path"]), pixels(run_dir / base["path"]))
        if not same_float or diff != 0:
            mismatches.append({"path": image["path"], "base": base["path"], "mean_abs_diff": diff})
    return {"ok": not mismatches, "checked": checked, "mismatches": mismatches}


def pixel_differences(images: list[dict], run_dir: Path) -> dict:
    """Mean |LoRA - base| per LoRA and strength (0-255 levels); a LoRA that changes nothing is flagged."""
    bases = base_of(images)
    cache: dict[str, np.ndarray] = {}

    def load(path: str) -> np.ndarray:
        if path not in cache:
            cache[path] = pixels(run_dir / path)
        return cache[path]

    per_lora: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for image in images:
        if image["lora"] is None:
            continue
        base = bases[(image["prompt_index"], image["seed"])]
        value = mean_abs_diff(load(image["path"]), load(base["path"]))
        image["mean_abs_diff_vs_base"] = value
        per_lora[image["lora"]][_key(image["strength"])].append(value)
    means = {lora: {s: round(sum(v) / len(v), 4) for s, v in by.items()} for lora, by in per_lora.items()}
    flagged = [lora for lora, by in means.items() if _strongest(by) < NO_EFFECT_MEAN]
    return {"ok": not flagged, "threshold": NO_EFFECT_MEAN, "mean_abs_diff": means, "no_effect": flagged}


def _key(strength: float) -> str:
    return f"{strength:g}"


def _strongest(by_strength: dict[str, float]) -> float:
    """The effect at the highest strength rendered (strength 0 is the base by design, so it is not an effect)."""
    nonzero = {float(s): v for s, v in by_strength.items() if float(s) > 0}
    return nonzero[max(nonzero)] if nonzero else BIG


def training_copies(images: list[dict], run_dir: Path, training: list[Path]) -> dict:
    """pHash/dHash distance of each LoRA image to its nearest training image; near copies are flagged."""
    hashes = [(path, h) for path in training if (h := hash_file(path)) is not None]
    if not hashes:
        return {"ok": True, "skipped": "no training images found", "training_images": 0, "flagged": []}
    flagged, nearest_by_lora = [], {}
    for image in images:
        if image["lora"] is None:
            continue
        own = hash_file(run_dir / image["path"])
        if own is None:
            continue
        path, (p, d) = min(hashes, key=lambda item: (distance(item[1][0], own[0]), distance(item[1][1], own[1])))
        nearest = {"image": str(path), "phash": distance(p, own[0]), "dhash": distance(d, own[1])}
        image["nearest_training_image"] = nearest
        best = nearest_by_lora.get(image["lora"])
        if best is None or nearest["phash"] < best["phash"]:
            nearest_by_lora[image["lora"]] = nearest
        if nearest["phash"] <= COPY_DISTANCE:
            flagged.append({"path": image["path"], **nearest})
    return {"ok": not flagged, "threshold": COPY_DISTANCE, "training_images": len(hashes),
            "nearest_by_lora": nearest_by_lora, "flagged": flagged}


def clip_summary(images: list[dict], scores: dict[str, float]) -> dict | None:
    """Mean CLIP score per column (base and each LoRA at each strength)."""
    if not scores:
        return None
    columns: dict[str, list[float]] = defaultdict(list)
    for image in images:
        if image["id"] in scores:
            image["clip_score"] = scores[image["id"]]
            label = "base" if image["lora"] is None else f"{image['lora']}@{_key(image['strength'])}"
            columns[label].append(scores[image["id"]])
    return {"mean_by_column": {k: round(sum(v) / len(v), 4) for k, v in columns.items()}}


def run_checks(images: list[dict], run_dir: Path, training: list[Path], clip: dict[str, float]) -> dict:
    checks = {
        "finite": check_finite(images),
        "strength0_identical_to_base": check_strength_zero(images, run_dir),
        "pixel_difference": pixel_differences(images, run_dir),
        "training_copy": training_copies(images, run_dir, training),
    }
    score = clip_summary(images, clip)
    checks["clip_score"] = score if score is not None else {"skipped": "no --clip model folder given"}
    return checks

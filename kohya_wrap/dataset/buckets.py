"""SDXL aspect buckets and the step count, computed the way sd-scripts does at the pinned commit.

Facts restated from library/model_util.py (make_bucket_resolutions), library/train_util.py (BucketManager,
BaseDataset.make_buckets / adjust_min_max_bucket_reso_by_steps, DreamBoothDataset reg balancing) and
train_network.py (steps and epochs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

from kohya_wrap.errors import DatasetError

DEFAULT_MAX_TRAIN_STEPS = 1600  # sd-scripts' --max_train_steps default
SDXL_RESO_STEPS_MULTIPLE = 32  # sdxl_train_network.py: verify_bucket_reso_steps(32)


def make_bucket_resolutions(max_reso, min_size=256, max_size=1024, divisible=64) -> list[tuple[int, int]]:
    """All (w, h) buckets: the square of the max area, then each width from min_size in steps, paired with
    the largest multiple of `divisible` height that keeps w*h within the max area (capped at max_size),
    both orientations, sorted."""
    max_area = max_reso[0] * max_reso[1]
    side = int(math.sqrt(max_area) // divisible) * divisible
    resos = {(side, side)}
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


@dataclass(frozen=True)
class BucketSpec:
    """Bucket settings after sd-scripts' own adjustment (min/max rounded to multiples of the step)."""

    resolution: tuple[int, int]
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    enable_bucket: bool = True
    bucket_no_upscale: bool = False

    @classmethod
    def adjusted(cls, resolution, *, min_bucket_reso=256, max_bucket_reso=1024, bucket_reso_steps=64,
                 enable_bucket=True, bucket_no_upscale=False) -> BucketSpec:
        resolution = _pair(resolution)
        if not enable_bucket:
            return cls(resolution, enable_bucket=False)
        steps = bucket_reso_steps
        if steps <= 0 or steps % SDXL_RESO_STEPS_MULTIPLE:
            raise DatasetError(f"bucket_reso_steps {steps} must be a positive multiple of 32 for SDXL.",
                               hint="Use 64 (sd-scripts' default) or 32.")
        low = min_bucket_reso - min_bucket_reso % steps
        high = max_bucket_reso + (steps - max_bucket_reso % steps) % steps
        if min(resolution) < low:
            raise DatasetError(f"min_bucket_reso {low} is larger than the resolution {resolution}.",
                               hint="Lower min_bucket_reso or raise the resolution.")
        if max(resolution) > high:
            raise DatasetError(f"max_bucket_reso {high} is smaller than the resolution {resolution}.",
                               hint="Raise max_bucket_reso to at least the resolution.")
        if low > high:
            raise DatasetError(f"min_bucket_reso {low} is larger than max_bucket_reso {high}.")
        return cls(resolution, low, high, steps, True, bucket_no_upscale)

    def predefined(self) -> list[tuple[int, int]]:
        if not self.enable_bucket:
            return [self.resolution]
        return make_bucket_resolutions(self.resolution, self.min_bucket_reso, self.max_bucket_reso,
                                       self.bucket_reso_steps)


def _pair(resolution) -> tuple[int, int]:
    if isinstance(resolution, int):
        return (resolution, resolution)
    width, height = resolution
    return (int(width), int(height))


def assign_buckets(image_sizes: Sequence[tuple[int, int]], *, resolution, min_bucket_reso=256, max_bucket_reso=1024,
                   bucket_reso_steps=64, enable_bucket=True, bucket_no_upscale=False) -> list[tuple[int, int]]:
    """The bucket (w, h) sd-scripts' BucketManager.select_bucket picks for each image size, in order."""
    spec = BucketSpec.adjusted(resolution, min_bucket_reso=min_bucket_reso, max_bucket_reso=max_bucket_reso,
                               bucket_reso_steps=bucket_reso_steps, enable_bucket=enable_bucket,
                               bucket_no_upscale=bucket_no_upscale)
    return Selector(spec).select_all(image_sizes)


class Selector:
    def __init__(self, spec: BucketSpec):
        self.spec = spec
        self.no_upscale = spec.enable_bucket and spec.bucket_no_upscale
        self.resos = spec.predefined()
        self.reso_set = set(self.resos)
        self.ratios = [w / h for w, h in self.resos]
        self.max_area = spec.resolution[0] * spec.resolution[1]

    def select_all(self, sizes) -> list[tuple[int, int]]:
        return [self.select(int(w), int(h)) for w, h in sizes]

    def select(self, width: int, height: int) -> tuple[int, int]:
        if width <= 0 or height <= 0:
            raise DatasetError(f"Image size {width}x{height} cannot be bucketed.")
        if not self.no_upscale:
            if (width, height) in self.reso_set:
                return (width, height)
            aspect = width / height
            # first bucket with the smallest aspect-ratio error (numpy argmin keeps the first minimum)
            errors = [abs(ratio - aspect) for ratio in self.ratios]
            return self.resos[errors.index(min(errors))]
        return self._no_upscale(width, height)

    def _round(self, value: float) -> int:
        value = int(value + 0.5)
        return value - value % self.spec.bucket_reso_steps

    def _no_upscale(self, width: int, height: int) -> tuple[int, int]:
        steps = self.spec.bucket_reso_steps
        aspect = width / height
        if width * height > self.max_area:
            # shrink to the max area keeping the aspect, then round the side whose rounding distorts less
            resized_w = math.sqrt(self.max_area * aspect)
            resized_h = self.max_area / resized_w
            w_rounded = self._round(resized_w)
            h_in_w = self._round(w_rounded / aspect)
            h_rounded = self._round(resized_h)
            w_in_h = self._round(h_rounded * aspect)
            if h_in_w == 0 or h_rounded == 0:
                raise DatasetError(f"Image {width}x{height} is too thin to bucket (sd-scripts divides by zero).",
                                   hint="Crop it to a less extreme aspect ratio.")
            if abs(w_rounded / h_in_w - aspect) < abs(w_in_h / h_rounded - aspect):
                resized = (w_rounded, int(w_rounded / aspect + 0.5))
            else:
                resized = (int(h_rounded * aspect + 0.5), h_rounded)
        else:
            resized = (width, height)
        bucket = (resized[0] - resized[0] % steps, resized[1] - resized[1] % steps)
        if 0 in bucket:
            raise DatasetError(f"Image {width}x{height} is smaller than bucket_reso_steps {steps} on one side; "
                               "with bucket_no_upscale its bucket would be empty.", hint="Upscale or drop it.")
        return bucket


@dataclass
class StepPlan:
    images: int
    reg_images: int
    images_with_repeats: int  # sd-scripts: "N train images with repeats"
    reg_images_with_repeats: int  # sd-scripts: "N reg images with repeats" (before balancing)
    reg_images_used: int  # reg samples per epoch after sd-scripts balances them to the train count
    batches_per_epoch: int
    steps_per_epoch: int
    epochs: int
    total_steps: int
    batch_size: int
    gradient_accumulation_steps: int
    buckets: list[dict] = field(default_factory=list)  # [{"resolution": [w, h], "count": n}] sorted by reso
    subsets: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"this run = {self.total_steps} steps ({self.epochs} epochs x {self.steps_per_epoch} steps; "
                f"{self.batches_per_epoch} batches of {self.batch_size} per epoch)")


def plan_steps(subsets_with_sizes, *, resolution, batch_size: int = 1, gradient_accumulation_steps: int = 1,
               max_train_epochs: int | None = None, max_train_steps: int | None = None, min_bucket_reso: int = 256,
               max_bucket_reso: int = 1024, bucket_reso_steps: int = 64, enable_bucket: bool = True,
               bucket_no_upscale: bool = False, num_processes: int = 1) -> StepPlan:
    """Bucket histogram, batches per epoch and total steps for [(subset, [(w, h), ...]), ...] in one dataset.

    A subset is a scan.Subset or a [[datasets.subsets]] dict: `num_repeats`, `is_reg` (default false) and
    `image_dir` (to drop duplicates, as sd-scripts does) are read from it. Order
    matters for regularisation balancing, exactly as in sd-scripts: keep the dataset TOML's order.
    """
    if batch_size < 1 or gradient_accumulation_steps < 1:
        raise DatasetError("batch_size and gradient_accumulation_steps must be at least 1.")
    selector = Selector(BucketSpec.adjusted(resolution, min_bucket_reso=min_bucket_reso,
                                            max_bucket_reso=max_bucket_reso, bucket_reso_steps=bucket_reso_steps,
                                            enable_bucket=enable_bucket, bucket_no_upscale=bucket_no_upscale))
    train, reg, rows = _collect(subsets_with_sizes, selector)
    num_train = sum(repeats for _, repeats in train)
    balanced = balance_reg([repeats for _, repeats in reg], num_train)
    counts: dict[tuple[int, int], int] = {}
    for bucket, repeats in train + [(bucket, n) for (bucket, _), n in zip(reg, balanced)]:
        if repeats:
            counts[bucket] = counts.get(bucket, 0) + repeats
    batches = sum(math.ceil(count / batch_size) for count in counts.values())
    if batches == 0:
        raise DatasetError("No data found: no subset has images with repeats >= 1 (sd-scripts stops here).",
                           hint="Check the folder layout with `kohya-wrap data scan DIR`.")
    per_epoch = math.ceil(math.ceil(batches / num_processes) / gradient_accumulation_steps)
    if max_train_epochs:
        total = max_train_epochs * math.ceil(batches / num_processes / gradient_accumulation_steps)
    else:
        total = max_train_steps or DEFAULT_MAX_TRAIN_STEPS
    return StepPlan(
        images=sum(row["images"] for row in rows if not row["is_reg"]),
        reg_images=sum(row["images"] for row in rows if row["is_reg"]),
        images_with_repeats=num_train, reg_images_with_repeats=sum(repeats for _, repeats in reg),
        reg_images_used=sum(balanced), batches_per_epoch=batches, steps_per_epoch=per_epoch,
        epochs=math.ceil(total / per_epoch), total_steps=total, batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        buckets=[{"resolution": list(reso), "count": counts[reso]} for reso in sorted(counts)], subsets=rows)


def _collect(subsets_with_sizes, selector: Selector):
    """Per-image (bucket, repeats) for train and reg images; subsets sd-scripts would ignore are dropped."""
    train: list[tuple[tuple[int, int], int]] = []
    reg: list[tuple[tuple[int, int], int]] = []
    rows, seen = [], set()
    for subset, sizes in subsets_with_sizes:
        key = str(_field(subset, "image_dir", id(subset)))
        repeats, is_reg = int(_field(subset, "num_repeats", 1)), bool(_field(subset, "is_reg", False))
        if repeats < 1 or key in seen or not sizes:
            continue  # sd-scripts: repeats < 1, a duplicate image_dir, or no images -> subset ignored
        seen.add(key)
        entries = [(bucket, repeats) for bucket in selector.select_all(sizes)]
        (reg if is_reg else train).extend(entries)
        rows.append({"image_dir": key, "is_reg": is_reg, "images": len(sizes), "num_repeats": repeats,
                     "images_with_repeats": len(sizes) * repeats})
    return train, reg, rows


def _field(subset, name: str, default):
    if isinstance(subset, dict):
        return subset.get(name, default)
    return getattr(subset, name, default)


def balance_reg(repeats: list[int], num_train: int) -> list[int]:
    """Final repeats per reg image: sd-scripts registers reg images in order until their repeats reach the
    train count, then adds one repeat per image round-robin until it is reached (0 = never registered)."""
    final = [0] * len(repeats)
    if not repeats:
        return final
    total, first_round = 0, True
    while total < num_train:
        for index, count in enumerate(repeats):
            if first_round:
                final[index] = count
                total += count
            else:
                final[index] += 1
                total += 1
            if total >= num_train:
                break
        first_round = False
    return final

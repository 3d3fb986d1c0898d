"""Bucket resolutions, bucket choice and step counts follow sd-scripts' rules (parity with the real code is
checked in test_backend_parity.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kohya_wrap.dataset.buckets import (BucketSpec, assign_buckets, balance_reg, make_bucket_resolutions,
                                        plan_steps)
from kohya_wrap.errors import DatasetError


@dataclass
class Sub:
    image_dir: str
    num_repeats: int
    is_reg: bool = False


def test_bucket_resolutions_respect_area_steps_and_limits():
    resos = make_bucket_resolutions((1024, 1024), 256, 2048, 64)
    assert resos == sorted(resos) and (1024, 1024) in resos
    assert all(w % 64 == 0 and h % 64 == 0 and w * h <= 1024 * 1024 for w, h in resos)
    assert all(256 <= min(w, h) and max(w, h) <= 2048 for w, h in resos)
    assert {(h, w) for w, h in resos} == set(resos)
    assert (512, 2048) in resos and (1920, 512) in resos  # each width with the tallest height that fits


def test_max_size_caps_the_long_side():
    assert max(max(r) for r in make_bucket_resolutions((1024, 1024), 256, 1024, 64)) == 1024


def test_assign_picks_nearest_aspect_or_exact_bucket():
    resos = make_bucket_resolutions((1024, 1024), 256, 2048, 64)
    exact = resos[3]
    got = assign_buckets([(1024, 1024), (800, 1200), exact, (4000, 10)], resolution=1024, max_bucket_reso=2048)
    assert got[:3] == [(1024, 1024), (832, 1216), exact]
    assert got[3] == max(resos, key=lambda r: r[0] / r[1])


def test_no_upscale_floors_small_images_and_shrinks_large_ones():
    got = assign_buckets([(300, 500), (2000, 700), (1024, 1024)], resolution=1024, bucket_no_upscale=True)
    assert got == [(256, 448), (1600, 576), (1024, 1024)]


def test_without_buckets_everything_goes_to_the_resolution():
    assert set(assign_buckets([(300, 500), (2000, 700)], resolution=(1024, 768), enable_bucket=False)) == {(1024, 768)}


def test_min_max_are_adjusted_to_steps_like_sd_scripts():
    spec = BucketSpec.adjusted(1024, min_bucket_reso=250, max_bucket_reso=1000, bucket_reso_steps=64)
    assert (spec.min_bucket_reso, spec.max_bucket_reso) == (192, 1024)


@pytest.mark.parametrize("kwargs, match", [
    ({"min_bucket_reso": 1088}, "larger than the resolution"),
    ({"max_bucket_reso": 512}, "smaller than the resolution"),
    ({"bucket_reso_steps": 48}, "multiple of 32"),
])
def test_impossible_bucket_settings_are_errors(kwargs, match):
    with pytest.raises(DatasetError, match=match):
        assign_buckets([(1024, 1024)], resolution=1024, **kwargs)


def test_batches_are_counted_per_bucket():
    subset = Sub("a", 2)
    plan = plan_steps([(subset, [(1024, 1024)] * 3 + [(576, 1024)])], resolution=1024, batch_size=4,
                      max_train_epochs=1)
    assert plan.buckets == [{"resolution": [576, 1024], "count": 2}, {"resolution": [1024, 1024], "count": 6}]
    assert plan.batches_per_epoch == 3  # ceil(6/4) + ceil(2/4), not ceil(8/4)


def test_epochs_override_steps_and_gradient_accumulation_divides():
    pairs = [(Sub("a", 10), [(1024, 1024)] * 5)]
    plan = plan_steps(pairs, resolution=1024, batch_size=4, max_train_epochs=2, max_train_steps=999)
    assert (plan.images_with_repeats, plan.batches_per_epoch, plan.total_steps, plan.epochs) == (50, 13, 26, 2)
    plan = plan_steps(pairs, resolution=1024, batch_size=4, gradient_accumulation_steps=4, max_train_epochs=2)
    assert (plan.steps_per_epoch, plan.total_steps) == (4, 8)
    plan = plan_steps(pairs, resolution=1024, batch_size=4, max_train_steps=100)
    assert (plan.total_steps, plan.epochs) == (100, 8)
    assert plan_steps(pairs, resolution=1024).total_steps == 1600  # sd-scripts' default max_train_steps


def test_reg_images_are_balanced_to_the_train_count():
    assert balance_reg([1] * 7, 50) == [8, 7, 7, 7, 7, 7, 7]
    assert balance_reg([1] * 10, 4) == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert balance_reg([3, 3], 4) == [3, 3]  # whole subsets' repeats are added first, then +1 round-robin
    assert balance_reg([], 4) == []
    pairs = [(Sub("t", 10), [(1024, 1024)] * 5), (Sub("r", 1, True), [(1024, 1024)] * 7)]
    plan = plan_steps(pairs, resolution=1024, max_train_epochs=1)
    assert (plan.images_with_repeats, plan.reg_images_with_repeats, plan.reg_images_used) == (50, 7, 50)
    assert plan.batches_per_epoch == 100


def test_ignored_subsets_and_dict_subsets():
    pairs = [({"image_dir": "a", "num_repeats": 2}, [(1024, 1024)]), ({"image_dir": "a", "num_repeats": 5},
             [(1024, 1024)]), ({"image_dir": "z", "num_repeats": 0}, [(1024, 1024)]), (Sub("e", 3), [])]
    plan = plan_steps(pairs, resolution=1024, max_train_epochs=1)
    assert [row["image_dir"] for row in plan.subsets] == ["a"] and plan.images_with_repeats == 2


def test_no_data_is_an_error_even_with_reg_images():
    with pytest.raises(DatasetError, match="No data found"):
        plan_steps([(Sub("r", 1, True), [(1024, 1024)])], resolution=1024)

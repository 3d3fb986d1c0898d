"""Calibration from measured runs given as plain dicts: same settings, other settings, other GPUs."""

from __future__ import annotations

import pytest

from kohya_wrap.estimate.calibrate import calibrate
from kohya_wrap.estimate.facts import TrainFacts
from kohya_wrap.estimate.gpus import lookup
from kohya_wrap.estimate.predict import predict

FACTS = TrainFacts(optimizer="SGD", mixed_precision="bf16", steps=1000, gradient_checkpointing=True)


@pytest.fixture
def prediction(round_profile):
    return predict(FACTS, round_profile, lookup("4090"))


def test_runs_with_the_same_settings_give_the_median_and_say_so(prediction):
    runs = [{"gpu": "NVIDIA GeForce RTX 4090", "s_per_it": s, "facts": FACTS.to_dict()} for s in (1.0, 1.2, 5.0)]
    calibrated = calibrate(prediction, runs)
    assert calibrated.s_per_it == 1.2 and "calibrated from 3 runs" in calibrated.basis["s_per_it"]
    assert calibrated.time_parts_s["training_s"] == pytest.approx(1200)
    assert calibrated.cost_usd == pytest.approx(calibrated.total_seconds / 3600 * calibrated.hourly_usd)
    assert prediction.s_per_it != 1.2  # the prediction itself is left as it was


def test_runs_with_other_settings_calibrate_the_efficiency(prediction):
    other = FACTS.with_changes(batch=4).to_dict()
    runs = [{"gpu": "4090", "s_per_it": 2.0, "flops_per_step": 66.08e12, "facts": other}]  # 66.08/2/165.2 = 0.2
    calibrated = calibrate(prediction, runs)
    assert calibrated.gpu["efficiency"] == pytest.approx(0.2)
    assert calibrated.s_per_it == pytest.approx(20e12 / (165.2e12 * 0.2))
    assert "other settings" in calibrated.basis["s_per_it"]


def test_runs_on_other_or_unknown_gpus_change_nothing(prediction):
    runs = [{"gpu": "NVIDIA H100 80GB HBM3", "s_per_it": 0.1, "facts": FACTS.to_dict()},
            {"gpu": "Mystery GPU", "s_per_it": 0.1, "facts": FACTS.to_dict()}, {"gpu": None, "s_per_it": 0.1}]
    calibrated = calibrate(prediction, runs)
    assert calibrated.s_per_it == prediction.s_per_it and calibrated.basis == prediction.basis


def test_runs_missing_settings_are_not_taken_for_the_same_config(prediction):
    runs = [{"gpu": "4090", "s_per_it": 9.0, "width": 1024}]
    assert calibrate(prediction, runs).s_per_it == prediction.s_per_it


def test_measured_peak_memory_replaces_the_prediction_and_the_verdict(prediction):
    runs = [{"gpu": "4090", "s_per_it": 1.0, "peak_vram_gib": 23.0, "facts": FACTS.to_dict()}]
    calibrated = calibrate(prediction, runs)
    assert calibrated.peak_vram_gib == 23.0 and calibrated.verdict == "tight"
    assert "measured in 1 run" in calibrated.basis["peak_vram_gib"]

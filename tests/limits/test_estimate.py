"""Pre-launch estimates from earlier jobs, and refusing a job whose estimate is over its limit."""

from __future__ import annotations

import pytest

from kohya_wrap.errors import EXIT_LIMIT, LimitReached
from kohya_wrap.limits.estimate import NO_HISTORY, SpeedSample, check_estimate, estimate, preflight, speed_key

H100 = "NVIDIA H100 80GB HBM3"
CONFIG = {"network": {"network_dim": 32}, "training": {"learning_rate": 1e-4, "max_train_steps": 3000,
                                                      "gradient_checkpointing": True}}


def test_no_history_is_said_plainly():
    est = estimate(3000, [], gpu=H100)
    assert not est.known and est.cost is None and est.basis.startswith(NO_HISTORY)
    assert "first minutes" in est.basis


def test_same_settings_on_the_same_gpu_come_first():
    key = speed_key(CONFIG)
    history = [SpeedSample(1.0, H100, key), SpeedSample(1.2, H100, key), SpeedSample(1.1, H100, key),
               SpeedSample(9.0, H100, "other"), SpeedSample(0.1, "NVIDIA L4", key)]
    est = estimate(3600, history, gpu=H100, speed_key=key, hourly_usd=3.0)
    assert est.seconds == pytest.approx(3600 * 1.1) and est.samples == 3
    assert est.cost == pytest.approx(3.3)
    assert "same settings" in est.basis and "1.10 s/it" in est.basis


def test_falls_back_to_other_settings_on_the_same_gpu():
    est = estimate(100, [(2.0, H100, "a"), (4.0, H100, "b")], gpu=H100, speed_key="c")
    assert est.seconds == pytest.approx(300) and "other settings" in est.basis and est.cost is None


def test_another_gpu_is_no_history():
    assert not estimate(100, [(2.0, "NVIDIA L4", "a")], gpu=H100, speed_key="a").known


def test_speed_key_ignores_learning_rate_and_steps_but_not_rank():
    other_lr = {**CONFIG, "training": {**CONFIG["training"], "learning_rate": 5e-5, "max_train_steps": 10}}
    other_rank = {**CONFIG, "network": {"network_dim": 64}}
    assert speed_key(CONFIG) == speed_key(other_lr)
    assert speed_key(CONFIG) != speed_key(other_rank)


def test_over_the_cost_limit_is_refused_with_exit_code_3():
    est = estimate(3600, [(2.0, H100, "k")], gpu=H100, speed_key="k", hourly_usd=3.0)  # 2 h -> 6 USD
    with pytest.raises(LimitReached) as caught:
        check_estimate(est, max_cost_usd=5.0)
    assert caught.value.exit_code == EXIT_LIMIT
    assert "6.00 USD > limits.max_cost_usd 5 USD" in caught.value.message and "--over-limit" in caught.value.hint
    assert check_estimate(est, max_cost_usd=5.0, force=True) == [
        "starting despite estimated cost 6.00 USD > limits.max_cost_usd 5 USD (--over-limit)"]
    assert check_estimate(est, max_cost_usd=7.0) == []


def test_over_the_time_limit_is_refused():
    est = estimate(3600, [(2.0, H100, "k")], gpu=H100, speed_key="k")
    with pytest.raises(LimitReached, match="estimated time 2.00 h > limits.max_hours 1.5 h"):
        check_estimate(est, max_hours=1.5)


def test_unknown_estimate_never_refuses():
    assert check_estimate(estimate(10**6, [], gpu=H100), max_cost_usd=0.01, max_hours=0.01) == []


def test_preflight_reads_the_limits_section():
    config = {**CONFIG, "limits": {"max_cost_usd": 1.0, "gpu_hourly_usd": 3.0}}
    history = [(1.0, H100, speed_key(config))]
    with pytest.raises(LimitReached):
        preflight(config, 3000, history, gpu_name=H100)  # 3000 s at 3 USD/h = 2.50 USD
    est, warnings = preflight(config, 3000, history, gpu_name=H100, force=True)
    assert est.cost == pytest.approx(2.5) and len(warnings) == 1
    unknown, _ = preflight(config, None, history, gpu_name=H100)
    assert not unknown.known and "step count" in unknown.basis

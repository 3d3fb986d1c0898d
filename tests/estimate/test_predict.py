"""Combining a step profile with a GPU: verdict thresholds, s/it, time parts, cost and their basis."""

from __future__ import annotations

import pytest

from kohya_wrap.estimate import memory, predict
from kohya_wrap.estimate.facts import TrainFacts
from kohya_wrap.estimate.gpus import generic, lookup, with_efficiency


@pytest.mark.parametrize("peak, verdict", [(10.0, "fits"), (21.6, "fits"), (21.7, "tight"), (24.0, "tight"),
                                           (24.1, "does_not_fit")])
def test_verdict_thresholds_on_a_24_gib_gpu(peak, verdict):
    assert predict.verdict(peak, 24.0) == verdict


def _sgd(**changes):
    return TrainFacts(optimizer="SGD", mixed_precision="bf16", steps=1000, **changes)


def test_peak_is_the_profile_plus_allowances_and_verdict_follows(round_profile):
    gpu = lookup("4090")
    estimate = predict.predict(_sgd(), round_profile, gpu)
    expected = 10 * (1 + memory.ALLOCATOR_RESERVE) + memory.CUDA_CONTEXT_GIB
    assert estimate.peak_vram_gib == pytest.approx(expected)
    assert estimate.verdict == "fits" and estimate.memory_share == pytest.approx(expected / 24)
    round_profile.peak_bytes = 22 * memory.GIB
    assert predict.predict(_sgd(), round_profile, gpu).verdict == "does_not_fit"


def test_seconds_per_step_is_flops_over_effective_throughput(round_profile):
    gpu = with_efficiency(lookup("4090"), 0.25)
    estimate = predict.predict(_sgd(grad_accum=2), round_profile, gpu)
    assert estimate.s_per_it == pytest.approx(2 * 20e12 / (165.2e12 * 0.25))
    assert "165.2 TFLOPS" in estimate.basis["s_per_it"] and "assumed" in estimate.basis["s_per_it"]
    assert estimate.time_parts_s["training_s"] == pytest.approx(1000 * estimate.s_per_it)
    assert estimate.total_seconds == pytest.approx(sum(estimate.time_parts_s.values()))


def test_fp32_training_is_slower_than_bf16(round_profile):
    gpu = lookup("a6000")
    fp32 = predict.predict(TrainFacts(optimizer="SGD", mixed_precision="no"), round_profile, gpu)
    bf16 = predict.predict(_sgd(), round_profile, gpu)
    assert fp32.s_per_it == pytest.approx(bf16.s_per_it * predict.FP32_SLOWDOWN)


def test_generic_gpu_judges_fit_but_not_time(round_profile):
    estimate = predict.predict(_sgd(), round_profile, generic(16))
    assert estimate.verdict == "fits" and estimate.s_per_it is None and estimate.total_seconds is None
    assert "no throughput" in estimate.basis["s_per_it"] and estimate.cost_usd is None


def test_cost_prefers_price_then_limits_then_price_table(round_profile):
    gpu = lookup("4090")
    from_table = predict.predict(_sgd(), round_profile, gpu)
    assert from_table.hourly_usd == pytest.approx(0.69) and "prices.toml" in from_table.basis["cost_usd"]
    assert from_table.cost_usd == pytest.approx(from_table.total_seconds / 3600 * 0.69)
    from_limits = predict.predict(_sgd(gpu_hourly_usd=2.0, gpu_count=2), round_profile, gpu)
    assert from_limits.hourly_usd == 4.0 and "limits.gpu_hourly_usd" in from_limits.basis["cost_usd"]
    assert predict.predict(_sgd(gpu_hourly_usd=2.0), round_profile, gpu, price=1.0).hourly_usd == 1.0


def test_sampling_and_saving_add_time(round_profile):
    gpu = lookup("4090")
    plain = predict.predict(_sgd(), round_profile, gpu)
    busy = predict.predict(_sgd(sample_every_n_steps=100, sample_prompts=2, save_every_n_steps=250, save_state=True),
                           round_profile, gpu)
    assert busy.time_parts_s["sampling_s"] > 0 and busy.time_parts_s["saving_s"] > 0
    assert busy.total_seconds > plain.total_seconds
    per_image = 6e12 * predict.SAMPLE_STEPS * predict.SAMPLE_CFG / (gpu.effective_tflops * 1e12)
    assert busy.time_parts_s["sampling_s"] == pytest.approx(10 * 2 * per_image)


def test_unknown_step_count_leaves_total_unknown_with_its_reason(round_profile):
    estimate = predict.predict(TrainFacts(optimizer="SGD", mixed_precision="bf16", steps=None), round_profile,
                               lookup("4090"))
    assert estimate.s_per_it is not None and estimate.total_seconds is None
    assert "no step count" in estimate.basis["total_seconds"]


def test_every_number_has_a_basis_and_the_dict_is_json_ready(round_profile):
    import json

    data = predict.predict(_sgd(), round_profile, lookup("h100")).to_dict()
    assert {"peak_vram_gib", "flops_per_step", "s_per_it", "total_seconds", "cost_usd"} <= set(data["basis"])
    assert json.loads(json.dumps(data))["verdict"] == "fits"

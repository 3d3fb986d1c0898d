"""Memory arithmetic: weights by precision, LoRA size, optimizer state, allowances, the analytic model."""

from __future__ import annotations

import pytest

from kohya_wrap.estimate import memory
from kohya_wrap.estimate.facts import TrainFacts

N = 1_000_000


@pytest.mark.parametrize("optimizer, per_param", [
    ("AdamW", 8.0), ("AdamW8bit", 2.03), ("PagedAdamW8bit", 2.03), ("Lion", 4.0), ("Lion8bit", 1.02),
    ("Prodigy", 16.0), ("SGDNesterov", 4.0), ("torch.optim.SGD", 0.0), ("DAdaptAdam", 12.0),
])
def test_optimizer_state_bytes_per_parameter(optimizer, per_param):
    state, _ = memory.optimizer_bytes(TrainFacts(optimizer=optimizer), N)
    assert state == pytest.approx(per_param * N)


def test_half_precision_lora_halves_32_bit_optimizer_state_but_not_8_bit():
    assert memory.optimizer_bytes(TrainFacts(optimizer="AdamW", full_bf16=True), N)[0] == pytest.approx(4 * N)
    assert memory.optimizer_bytes(TrainFacts(optimizer="AdamW8bit", full_bf16=True), N)[0] == pytest.approx(2.03 * N)


def test_adafactor_state_shrinks_with_rank():
    low, _ = memory.optimizer_bytes(TrainFacts(optimizer="AdaFactor", network_dim=8), N)
    high, _ = memory.optimizer_bytes(TrainFacts(optimizer="AdaFactor", network_dim=64), N)
    assert low == pytest.approx(N / 2) and high == pytest.approx(low / 8)


def test_foreach_adamw_step_copies_the_state_and_fused_does_not():
    assert memory.optimizer_bytes(TrainFacts(optimizer="AdamW"), N)[1] == pytest.approx(4 * N)
    assert memory.optimizer_bytes(TrainFacts(optimizer="AdamW", optimizer_args=("fused=True",)), N)[1] == 0


def test_unknown_optimizer_is_assumed_adamw_like_and_says_so():
    state = memory.optimizer_state("mylib.FancyOpt")
    assert state.like_param == 2 and "unknown" in state.note


def test_weight_dtypes_follow_precision_and_fp8_flags():
    assert memory.unet_dtype(TrainFacts(mixed_precision="bf16")) == "bf16"
    assert memory.unet_dtype(TrainFacts(mixed_precision="no")) == "fp32"
    assert memory.unet_dtype(TrainFacts(mixed_precision="bf16", fp8_base=True)) == "fp8"
    assert memory.text_encoder_dtype(TrainFacts(mixed_precision="bf16", fp8_base=True)) == "fp8"
    assert memory.text_encoder_dtype(TrainFacts(mixed_precision="bf16", fp8_base_unet=True)) == "bf16"
    assert memory.vae_dtype(TrainFacts(mixed_precision="fp16", no_half_vae=True)) == "fp32"


def test_lora_parameters_grow_with_rank_and_text_encoder_training():
    unet_only = memory.lora_params(TrainFacts(network_dim=32, train_text_encoder=False))
    assert unet_only == 85_114_880  # what the trace counts for networks.lora at rank 32
    assert memory.lora_params(TrainFacts(network_dim=64, train_text_encoder=False)) == 2 * unet_only
    assert memory.lora_params(TrainFacts(network_dim=32, train_text_encoder=True)) == 114_016_256


def _analytic(**changes):
    base = TrainFacts(mixed_precision="bf16", attention="sdpa", gradient_checkpointing=True, cache_latents=True,
                      cache_text_encoder_outputs=True, train_text_encoder=False, network_dim=32)
    return memory.analytic_profile(base.with_changes(**changes))


def test_analytic_profile_moves_the_right_way_with_each_setting():
    base = _analytic()
    assert base.resident_bytes == pytest.approx(memory.UNET_PARAMS * 2 + 85_114_880 * 4)
    assert _analytic(gradient_checkpointing=False).peak_bytes > base.peak_bytes * 1.5
    assert _analytic(batch=2).peak_bytes > base.peak_bytes
    assert _analytic(width=512, height=512).peak_bytes < base.peak_bytes
    assert _analytic(attention="none").peak_bytes > base.peak_bytes
    assert _analytic(fp8_base=True).resident_bytes == pytest.approx(base.resident_bytes - memory.UNET_PARAMS)
    with_encoders = _analytic(cache_text_encoder_outputs=False)
    assert with_encoders.weights_bytes["text_encoders"] == memory.TEXT_ENCODER_PARAMS * 2
    assert _analytic(cache_latents=False).weights_bytes["vae"] > 0
    assert _analytic(batch=2).flops == pytest.approx(2 * base.flops)
    assert _analytic(gradient_checkpointing=False).flops < base.flops  # no recomputation


def test_analytic_profile_is_close_to_the_traced_reference():
    # Traced with sd-scripts 48d368fa: 1024 px, batch 1, rank 32, bf16, sdpa, checkpointing: 6.92e9 bytes peak.
    assert _analytic().peak_bytes == pytest.approx(6.92e9, rel=0.05)
    assert _analytic().flops == pytest.approx(22.1e12, rel=0.05)


def test_step_peak_adds_optimizer_state_and_held_gradients(round_profile):
    facts = TrainFacts(optimizer="AdamW8bit")
    parts = memory.step_peak_bytes(facts, round_profile)
    assert parts["allocated"] == pytest.approx(10 * memory.GIB + 2.03 * 10_000_000)
    accumulated = memory.step_peak_bytes(facts.with_changes(grad_accum=4), round_profile)
    assert accumulated["allocated"] - parts["allocated"] == pytest.approx(1 * memory.GIB)


def test_step_peak_can_be_the_optimizer_step_itself(round_profile):
    round_profile.trainable_params = 1_000_000_000  # 4 GB of fp32 step temporaries on 7 GiB after backward
    parts = memory.step_peak_bytes(TrainFacts(optimizer="AdamW"), round_profile)
    assert parts["allocated"] == pytest.approx(7 * memory.GIB + 4e9 + 8e9)  # > the 10 GiB peak + 8e9 state


def test_reported_peak_adds_reserve_and_context(round_profile):
    parts = memory.step_peak_bytes(TrainFacts(optimizer="SGD"), round_profile)
    expected = 10 * (1 + memory.ALLOCATOR_RESERVE) + memory.CUDA_CONTEXT_GIB
    assert memory.reported_peak_gib(parts) == pytest.approx(expected)

"""With the real sd-scripts backend: trace small configs of its own SDXL U-Net + LoRA on the meta device."""

from __future__ import annotations

import os

import pytest

from kohya_wrap.estimate import memory, trace
from kohya_wrap.estimate.facts import TrainFacts

pytestmark = pytest.mark.backend

SMALL = TrainFacts(width=256, height=256, batch=1, network_dim=4, mixed_precision="bf16", attention="sdpa",
                   gradient_checkpointing=True, cache_latents=True, cache_text_encoder_outputs=True,
                   train_text_encoder=False, optimizer="AdamW8bit")


@pytest.fixture(autouse=True)
def backend_configured():
    if not os.environ.get("KOHYA_WRAP_SD_SCRIPTS"):
        pytest.skip("KOHYA_WRAP_SD_SCRIPTS is not set")


def test_trace_of_a_small_config_measures_memory_and_flops():
    events = []
    profiles, notices = trace.step_profiles([SMALL, SMALL.with_changes(width=512, height=512)], on_event=events.append)
    small, larger = profiles
    assert notices == [] and small.basis == "traced" and larger.basis == "traced"
    # sd-scripts' own U-Net in bf16 (each tensor rounded up to the allocator's 512-byte blocks)
    assert small.weights_bytes["unet"] == pytest.approx(memory.UNET_PARAMS * 2, rel=1e-4)
    assert small.trainable_params == 4 * memory.LORA_UNET_PER_RANK
    assert small.peak_bytes > small.resident_bytes > 0 and small.flops > small.forward_flops > 0
    assert larger.peak_bytes > small.peak_bytes
    assert 3.5 < larger.flops / small.flops < 4.5  # four times the pixels
    assert any(event["type"] == "traced" for event in events)
    cached, _ = trace.step_profiles([SMALL])
    assert cached[0].basis == "traced (cached)" and cached[0].peak_bytes == small.peak_bytes


def test_trace_agrees_with_the_analytic_model_it_was_fitted_to():
    reference = SMALL.with_changes(width=1024, height=1024, network_dim=32)
    traced, _ = trace.step_profiles([reference])
    assert traced[0].peak_bytes == pytest.approx(memory.analytic_profile(reference).peak_bytes, rel=0.05)
    assert traced[0].flops == pytest.approx(memory.analytic_profile(reference).flops, rel=0.05)

"""Fixtures for estimate tests: resolved preset configs and a step profile with round numbers."""

from __future__ import annotations

import pytest

from kohya_wrap.estimate.memory import GIB, StepProfile


@pytest.fixture
def preset_config():
    from kohya_wrap.config.resolve import resolve

    return lambda name, *overrides: resolve(name, list(overrides)).data


@pytest.fixture
def round_profile() -> StepProfile:
    """10 GiB peak over 6 GiB resident, 1 GiB of gradients, 20 TFLOP a step, 10M trainable parameters."""
    return StepProfile(peak_bytes=10 * GIB, resident_bytes=6 * GIB, after_backward_bytes=7 * GIB, grad_bytes=1 * GIB,
                       flops=20e12, forward_flops=6e12, trainable_params=10_000_000,
                       weights_bytes={"unet": 5 * GIB, "lora": 1 * GIB}, basis="traced")

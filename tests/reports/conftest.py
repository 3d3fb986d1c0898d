"""Fixtures for report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import make_lora


@pytest.fixture
def lora_factory(tmp_path):
    def build(name: str = "shape_lora.safetensors", **options) -> Path:
        return make_lora(tmp_path / name, **options)

    return build

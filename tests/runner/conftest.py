"""Jobs prepared against the stand-in backend (tests/standin replays real sd-scripts bytes)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

STANDIN = REPO / "tests" / "standin"
STANDIN_OVERRIDES = ["launch.launcher=python", "platform.allow_cpu=true", "saving.output_name=shape_lora",
                     "dataset.resolution=256", "dataset.min_bucket_reso=128", "dataset.max_bucket_reso=512"]


@pytest.fixture
def standin_env(monkeypatch, isolated_home):
    monkeypatch.setenv("KOHYA_WRAP_SD_SCRIPTS", str(STANDIN))
    monkeypatch.setenv("KOHYA_WRAP_PYTHON", sys.executable)
    monkeypatch.setenv("STANDIN_SECONDS", "1.5")
    return {key: os.environ[key] for key in ("KOHYA_WRAP_HOME", "KOHYA_WRAP_SD_SCRIPTS", "KOHYA_WRAP_PYTHON")}


@pytest.fixture
def prepared_job(standin_env, example_dataset, model_file):
    """A rendered job folder whose command.json launches the stand-in."""
    from kohya_wrap.runner import prepare_job

    def make(*extra: str) -> Path:
        return prepare_job("sdxl-style", STANDIN_OVERRIDES + list(extra), dataset=example_dataset, model=model_file)

    return make

"""Fixtures for backend tests: the real sd-scripts checkout and its python, skipping when not configured."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture
def sd_scripts_root() -> Path:
    root = os.environ.get("KOHYA_WRAP_SD_SCRIPTS")
    if not root:
        pytest.skip("KOHYA_WRAP_SD_SCRIPTS is not set")
    return Path(root)


@pytest.fixture
def backend_python() -> str:
    return os.environ.get("KOHYA_WRAP_PYTHON") or sys.executable

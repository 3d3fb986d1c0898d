"""Fixtures for backend tests: the real sd-scripts checkout's python (the checkout itself: tests/conftest.py)."""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture
def backend_python() -> str:
    return os.environ.get("KOHYA_WRAP_PYTHON") or sys.executable

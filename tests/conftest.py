"""Shared fixtures: an isolated kohya-wrap home, a CLI runner, the repo's fixture folders."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
REPO = TESTS.parent


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own kohya-wrap home, runs and cache folders, and no backend from the environment."""
    home = tmp_path_factory.mktemp("kw-home")
    monkeypatch.setenv("KOHYA_WRAP_HOME", str(home))
    monkeypatch.delenv("KOHYA_WRAP_RUNS", raising=False)
    monkeypatch.delenv("KOHYA_WRAP_CACHE", raising=False)
    monkeypatch.delenv("KOHYA_WRAP_DB", raising=False)
    if not _backend_test_requested():
        monkeypatch.delenv("KOHYA_WRAP_SD_SCRIPTS", raising=False)
    return home


def _backend_test_requested() -> bool:
    import os

    return bool(os.environ.get("KOHYA_WRAP_SD_SCRIPTS"))


@pytest.fixture
def cli():
    """Invoke `kohya-wrap ARGS...` in-process; returns click's Result."""
    from kohya_wrap.cli import cli as group

    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(group, [str(arg) for arg in args], catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture
def example_dataset() -> Path:
    return REPO / "templates" / "example-dataset"


@pytest.fixture
def model_file(tmp_path) -> Path:
    """A file standing where the base checkpoint goes (only its header is checked before launch)."""
    from tests.fake_model import write_fake_sdxl

    return write_fake_sdxl(tmp_path / "base.safetensors")


@pytest.fixture
def sd_scripts_root() -> Path:
    """The real sd-scripts checkout of backend-marked tests (skipped without KOHYA_WRAP_SD_SCRIPTS)."""
    root = os.environ.get("KOHYA_WRAP_SD_SCRIPTS")
    if not root:
        pytest.skip("KOHYA_WRAP_SD_SCRIPTS is not set")
    return Path(root)


def wait_for(predicate, timeout_s: float, what: str):
    """The first true value PREDICATE returns within TIMEOUT_S (polled every 0.1 s); fails the test naming WHAT."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")

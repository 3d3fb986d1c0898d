"""The fault suite (issue 11): each test is one hostile case. Fixtures: a fake backend that replays a real
run or misbehaves (tests/faults/trainer), job folders made by the real prepare step, small real
filesystems (tmpfs, mounted as root) to fill up or make read-only, and a `fault` recorder whose notes
scripts/fault_matrix.py turns into its table (FAULT_MATRIX_OUT=FILE collects them)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.registry.conftest import STANDIN_OVERRIDES
from tests.registry.conftest import db_url, registry, runs, sqlite_registry, sqlite_url  # noqa: F401 (fixtures)

TRAINER = Path(__file__).resolve().parent / "trainer"


class Fault:
    """What one case did, for the matrix: its category, its name and what happened."""

    def __init__(self, item):
        self.item = item

    def __call__(self, category: str, case: str) -> "Fault":
        self.item.user_properties += [("category", category), ("case", case)]
        return self

    def saw(self, text: str) -> None:
        self.item.user_properties.append(("happened", " ".join(str(text).split())[:160]))


@pytest.fixture
def fault(request) -> Fault:
    return Fault(request.node)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    target = os.environ.get("FAULT_MATRIX_OUT")
    if not target or not (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        return
    props = dict(item.user_properties)
    happened = [value for key, value in item.user_properties if key == "happened"]
    line = {"test": item.nodeid, "category": props.get("category", "?"), "case": props.get("case", item.name),
            "happened": "; ".join(happened) or (str(report.longrepr).splitlines()[-1] if report.longrepr else ""),
            "held": report.outcome == "passed", "outcome": report.outcome}
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


@pytest.fixture
def fault_backend(monkeypatch):
    monkeypatch.setenv("KOHYA_WRAP_SD_SCRIPTS", str(TRAINER))
    monkeypatch.setenv("KOHYA_WRAP_PYTHON", sys.executable)
    monkeypatch.setenv("STANDIN_SECONDS", "0.5")
    return TRAINER


@pytest.fixture
def make_job(fault_backend, tmp_path):
    """prepare(name, *overrides, runs_dir=None) -> a job folder rendered for the fake backend."""
    from kohya_wrap.runner import prepare_job
    from tests.fake_model import write_fake_sdxl

    model = write_fake_sdxl(tmp_path / "base.safetensors")

    def prepare(name: str = "shape", *overrides: str, runs_dir: Path | None = None) -> Path:
        return prepare_job("sdxl-style", [*STANDIN_OVERRIDES, *overrides],
                           dataset=REPO / "templates" / "example-dataset", model=model, name=name,
                           runs_dir=runs_dir)

    prepare.model = model
    return prepare


def _can_mount() -> bool:
    return os.geteuid() == 0 and sys.platform.startswith("linux")


@pytest.fixture
def small_fs(tmp_path):
    """small_fs(size) -> a fresh tmpfs of that size (e.g. "4m"); small_fs.read_only(path) remounts it
    read-only. Real filesystems, so the trainer child's own writes fail too; skipped where this process
    cannot mount (not root)."""
    mounted: list[Path] = []

    def make(size: str) -> Path:
        if not _can_mount():
            pytest.skip("mounting a small tmpfs needs root (the in-process injected-writer tests still run)")
        target = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
        target.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(target)
        return target

    def read_only(path: Path) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)

    make.read_only = read_only
    yield make
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a filler file until only LEAVE bytes are free on FOLDER's filesystem."""
    import shutil

    free = shutil.disk_usage(folder).free
    filler = folder / f".filler-{uuid.uuid4().hex[:6]}"
    with open(filler, "wb", buffering=0) as handle:
        remaining = max(free - leave, 0)
        block = b"\0" * (1 << 20)
        try:
            while remaining > 0:
                handle.write(block[:remaining])
                remaining -= min(len(block), remaining)
            handle.flush()
        except OSError as error:  # the disk is full: that is the point
            assert error.errno == errno.ENOSPC, error
    return filler

"""Fixtures for logs tests: the real captured runs, parsing helpers, the log timezone."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from kohya_wrap.logs.parse import LogParser, parse_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MAIN = FIXTURES / "sdxl-cpu-run"
FAILED = MAIN / "failed-runs"
SIMPLE = FIXTURES / "sdxl-cpu-run-simple"
RESUME = FIXTURES / "sdxl-cpu-run-resume"
SKIP = RESUME / "variant-skip_until_initial_step"

# name -> (stdout, stderr, tensorboard folder or None); every log here is a real sd-scripts run (see READMEs)
RUNS = {
    "main": (MAIN / "stdout.log", MAIN / "stderr.log", MAIN / "tensorboard"),
    "attempt1": (MAIN / "extra-run-attempt1/stdout.log", MAIN / "extra-run-attempt1/stderr.log",
                 MAIN / "extra-run-attempt1/tensorboard"),
    "simple": (SIMPLE / "stdout.log", SIMPLE / "stderr.log", SIMPLE / "tensorboard"),
    "resume": (RESUME / "stdout.log", RESUME / "stderr.log", RESUME / "tensorboard"),
    "resume_skip": (SKIP / "stdout.log", SKIP / "stderr.log", SKIP / "tensorboard"),
}
FAILURES = ["fail_bad_folder_name", "fail_missing_model", "fail_unknown_argument", "fail_memory_limit_ulimit_v20GB",
            "fail_memory_limit_ulimit_v12GB", "interrupted_sigint_during_training",
            "killed_sigterm_group_during_training"]
for _name in FAILURES:
    RUNS[_name] = (FAILED / f"{_name}.stdout.log", FAILED / f"{_name}.stderr.log", None)
RICH_RUNS = ["main", "attempt1", *FAILURES]  # default rich logging: stdout holds print() lines only


@pytest.fixture(autouse=True)
def utc_logs(monkeypatch):
    """The captured runs logged their rich timestamps in UTC; read them as UTC whatever this machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def log_paths(name: str) -> list[Path]:
    stdout, stderr, _ = RUNS[name]
    return [stdout, stderr]


def parse_run(name: str, **kwargs) -> list:
    return parse_files(log_paths(name), **kwargs)


def parse_chunked(streams: list[bytes], rng: random.Random, sizes=(1, 2, 3, 5, 17, 64, 511, 4096)) -> list:
    """The same bytes fed in random chunk sizes (splitting UTF-8 characters and escape sequences anywhere)."""
    parser = LogParser()
    events = []
    for data in streams:
        pos = 0
        while pos < len(data):
            size = rng.choice(sizes)
            events += parser.feed(data[pos:pos + size])
            pos += size
        events += parser.end_stream()
    return events + parser.finish()


def write_units(data: bytes) -> list[bytes]:
    """Split a stderr capture where the trainer made separate writes: before each \\r redraw and after each
    line, keeping a rich record with its continuation lines and a traceback up to its exception line whole."""
    units, start, pos, in_traceback = [], 0, 0, False
    while pos < len(data):
        byte = data[pos:pos + 1]
        if byte == b"\r" and pos > start and not in_traceback:
            units.append(data[start:pos])
            start = pos
        elif byte == b"\n":
            line = data[data.rfind(b"\n", 0, pos) + 1:pos]
            if line.startswith(b"Traceback (most recent call last)"):
                in_traceback = True
            elif in_traceback and line and line[:1] not in b" \t^":
                in_traceback = False
            rest = data[pos + 1:pos + 30]
            if not in_traceback and not rest.startswith(b" " * 29):
                units.append(data[start:pos + 1])
                start = pos + 1
        pos += 1
    if start < len(data):
        units.append(data[start:])
    return units


def merge_streams(stdout: bytes, stderr: bytes, rng: random.Random) -> bytes:
    """One merged stream (what the runner records): stdout lines and stderr writes interleaved at random."""
    out_units = stdout.splitlines(keepends=True)
    err_units = write_units(stderr)
    merged, i, j = [], 0, 0
    while i < len(out_units) or j < len(err_units):
        take_out = j >= len(err_units) or (i < len(out_units) and rng.random() < 0.3)
        if take_out:
            merged.append(out_units[i])
            i += 1
        else:
            merged.append(err_units[j])
            j += 1
    assert b"".join(u for u in out_units) == stdout and b"".join(err_units) == stderr
    return b"".join(merged)

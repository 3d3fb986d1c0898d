"""The event vocabulary is one declaration: what the parser and runner write is declared, and every consumer
(progress view, recorder, registry rows, guards, summary) reads only declared fields of each type."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kohya_wrap.job.events import EVENT_FIELDS, INTERNAL_FIELDS
from kohya_wrap.logs.parse import parse_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RUNS = [FIXTURES / "sdxl-cpu-run", FIXTURES / "sdxl-cpu-run-resume", FIXTURES / "sdxl-cpu-run-nan"]
DECLARED = {**EVENT_FIELDS, **INTERNAL_FIELDS}


class StrictEvent(dict):
    """An event that fails the test when a consumer asks for a field its type does not declare."""

    def _check(self, key):
        allowed = {"type", "t", *DECLARED.get(dict.get(self, "type"), ())}
        if key not in allowed:
            raise AssertionError(f"a consumer read {key!r} of a {dict.get(self, 'type')!r} event (not declared)")

    def get(self, key, default=None):
        self._check(key)
        return dict.get(self, key, default)

    def __getitem__(self, key):
        self._check(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key):
        self._check(key)
        return dict.__contains__(self, key)


def _run_events(folder: Path) -> list[dict]:
    logs = sorted(folder.glob("*.log"))
    parsed = [e.to_dict() for e in parse_files(logs)]
    started = {"type": "started", "t": (parsed[0]["t"] or 1.0) - 1, "pid": 1, "pgid": 1, "host": "h",
               "argv": ["x"], "resume": None, "step_offset": 0}
    limit = {"type": "limit", "t": parsed[-1]["t"] or 2.0, "cause": "cost_limit", "message": "m",
             "cost_usd": 0.1, "projected_usd": 0.2, "max_cost_usd": 0.1, "hourly_usd": 1.0}
    exited = {"type": "exited", "t": (parsed[-1]["t"] or 2.0) + 1, "code": 0, "signal": None,
              "cause": None, "status": "succeeded", "stop_signals": []}
    return [started, *parsed, limit, exited]


@pytest.mark.parametrize("folder", RUNS, ids=lambda p: p.name)
def test_what_the_parser_and_runner_write_is_declared(folder):
    for event in _run_events(folder):
        undeclared = set(event) - {"type", "t"} - set(DECLARED[event["type"]])
        assert not undeclared, (event["type"], undeclared)


@pytest.mark.parametrize("folder", RUNS, ids=lambda p: p.name)
def test_consumers_read_only_declared_fields(folder, tmp_path, monkeypatch):
    from kohya_wrap.cli.progress import ProgressView
    from kohya_wrap.job.folder import JobFolder
    from kohya_wrap.limits.guards import CostGuard, TimeGuard
    from kohya_wrap.registry.recorder import JobRecorder
    from kohya_wrap.registry.rows import job_row
    from kohya_wrap.reports import inputs
    from kohya_wrap.reports.summary import build_summary

    events = [StrictEvent(event) for event in _run_events(folder)]
    view = ProgressView(stream=io.StringIO(), tty=False)
    recorder = JobRecorder.__new__(JobRecorder)  # only its event absorption, no database
    recorder.values, recorder.started_at, recorder.job_dir, recorder._pending_saves = {}, None, tmp_path, []
    recorder.clock = lambda: 0.0
    guards = [CostGuard(1e9, 1.0, measure_steps=3), TimeGuard(1e6, measure_steps=3)]
    for event in events:
        view(event)
        recorder._absorb(event)
        for guard in guards:
            guard.check(event, event.get("t") or 0.0)
    job_row(JobFolder(path=tmp_path / "20261101-000000-x-abcd", events=list(events)), 1.0)
    monkeypatch.setattr(inputs, "as_dict", lambda event: event if isinstance(event, StrictEvent) else dict(event))
    (tmp_path / "job").mkdir()
    summary = build_summary(tmp_path / "job", events, scalars=[])
    assert summary["steps"]["done"]

"""Regression tests for the job-core bugs: one cost, one find(ref) rule, one causes table, live config line."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from kohya_wrap.cli.progress import ProgressView
from kohya_wrap.job import causes
from kohya_wrap.job.folder import Candidate, JobNotFound, pick
from kohya_wrap.job.outcome import decide_outcome
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.registry.queue import enqueue
from tests.registry.conftest import run_worker


def test_pick_exact_then_unique_prefix_then_newest_of_a_name():
    jobs = [Candidate("20261101-000000-a-1111", "a", 1.0), Candidate("20261102-000000-a-2222", "a", 2.0),
            Candidate("20261103-000000-b-3333", "b", 3.0)]
    assert pick("20261101-000000-a-1111", jobs) == "20261101-000000-a-1111"
    assert pick("20261103", jobs) == "20261103-000000-b-3333"
    assert pick("a", jobs) == "20261102-000000-a-2222"
    with pytest.raises(JobNotFound, match="ambiguous.*20261101-000000-a-1111.*20261102-000000-a-2222"):
        pick("2026110", jobs)
    with pytest.raises(JobNotFound, match="No job 'zzz'"):
        pick("zzz", jobs)
    # a substring that is neither a prefix nor a name is no match (the old `report` rule took it)
    with pytest.raises(JobNotFound):
        pick("a-2222", jobs)


def test_cost_in_the_registry_equals_cost_in_summary_json(registry, standin):
    job = standin("priced", "limits.gpu_hourly_usd=3.6")
    enqueue(registry, job)
    run_worker(registry)
    summary = json.loads((job / "summary.json").read_text())
    row = get_job(registry, job.name)
    assert summary["cost"]["usd"] > 0 and summary["cost"]["usd_per_hour"] == pytest.approx(3.6)
    assert row["cost_usd"] == pytest.approx(summary["cost"]["usd"], rel=1e-9)


def test_one_find_rule_across_commands(cli, registry, standin, monkeypatch):
    older = standin("twin")
    time.sleep(1.05)  # job ids carry the second they were made: the newer one is newer by its id
    newer = standin("twin")
    for job in (older, newer):
        enqueue(registry, job)
    run_worker(registry)
    # every command takes the job name to mean the newest job of that name ...
    shown = json.loads(cli("jobs", "show", "twin", "--json").output)
    assert shown["id"] == newer.name
    report = cli("report", "twin", "--json")
    assert report.exit_code == 0 and json.loads(report.output)["job"] == newer.name
    logs = cli("logs", "twin")
    assert logs.exit_code == 0 and logs.stdout_bytes == (newer / "train.log").read_bytes()
    jobs_logs = cli("jobs", "logs", "twin")
    assert jobs_logs.exit_code == 0 and jobs_logs.stdout_bytes == (newer / "train.log").read_bytes()
    stop = cli("jobs", "stop", "twin")
    assert stop.exit_code == 2 and newer.name in stop.output and "nothing to stop" in stop.output
    resume = cli("train", "--resume", "twin")
    assert f"Resuming {newer.name} from" in resume.output, resume.output
    # ... and a prefix shared by both is ambiguous everywhere, naming both
    shared = older.name[:9]
    for args in (("jobs", "show", shared), ("report", shared), ("logs", shared), ("jobs", "stop", shared),
                 ("train", "--resume", shared)):
        result = cli(*args)
        assert result.exit_code == 2 and "ambiguous" in result.output, args
        assert older.name in result.output and newer.name in result.output, args


def test_worker_stopped_is_a_cancellation_with_its_own_hint():
    outcome = decide_outcome([{"type": "step", "step": 2, "total": 6}], final_output_exists=False, exit_code=0,
                             signal=None, stop_requested="worker_stopped")
    assert outcome.status == "cancelled" and "limit" not in (outcome.hint or "")
    assert "--on-term stop" in outcome.hint
    limited = decide_outcome([], final_output_exists=False, exit_code=0, signal=None, stop_requested="cost_limit")
    assert limited.status == "stopped" and "max_cost_usd" in limited.hint


def test_every_cause_has_a_status_and_user_stops_are_cancellations():
    assert {c.status for c in causes.CAUSES.values()} <= {"failed", "cancelled", "stopped"}
    assert {"interrupted", "terminated", "user", "worker_stopped", "requeued"} <= causes.USER_STOPS
    assert causes.LIMIT_STOPS == {"cost_limit", "time_limit"}


def test_live_config_line_shows_images_accumulation_and_steps():
    from kohya_wrap.logs.parse import parse_files

    log = Path(__file__).resolve().parents[1] / "fixtures" / "sdxl-cpu-run" / "stdout.log"
    [config] = [e.to_dict() for e in parse_files([log]) if e.type == "config"]
    out = io.StringIO()
    view = ProgressView(stream=out, tty=False)
    view(config)
    line = out.getvalue()
    assert f"images x repeats {config['images']}" in line
    assert f"grad accumulation {config['grad_accum']}" in line and f"steps {config['steps']}" in line
    assert view.state["total"] == config["steps"]

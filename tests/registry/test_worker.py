"""Workers run queued jobs through the real runner (stand-in trainer replaying a real run's bytes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kohya_wrap.registry import liveness
from kohya_wrap.registry.db import open_registry
from kohya_wrap.job.folder import read_events
from kohya_wrap.registry.jobs import get_job, list_jobs
from kohya_wrap.registry.models import list_versions
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.registry.rebuild import rebuild
from tests.conftest import wait_for
from tests.registry.conftest import run_worker, snapshot, worker_env


def _started(job_dir: Path) -> list[dict]:
    return [e for e in read_events(job_dir) if e["type"] == "started"]


def _spawn_worker(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kohya_wrap", "worker", "--poll", "0.2", *args],
                            env=worker_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _running_with_steps(registry):
    rows = [r for r in list_jobs(registry, check=False) if r["status"] == "running" and r["pgid"]]
    if rows and any(e["type"] == "step" for e in read_events(Path(rows[0]["job_dir"]))):
        return rows[0]
    return None


def _kill_group(pgid):
    if pgid and liveness.group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)


def test_worker_runs_jobs_and_records_them(registry, standin):
    jobs = [standin("shape", f"network.network_dim={dim}") for dim in (4, 8)]
    for job in jobs:
        enqueue(registry, job)
    result = run_worker(registry)
    assert result.ran == [(jobs[0].name, "succeeded"), (jobs[1].name, "succeeded")] and result.exit_code == 0
    for job in jobs:
        row = get_job(registry, job.name)
        summary = json.loads((job / "summary.json").read_text())
        assert row["status"] == summary["status"] == "succeeded"
        assert (row["step"], row["total_steps"]) == (summary["steps"]["done"], summary["steps"]["total"]) == (10, 10)
        assert row["pgid"] == _started(job)[0]["pgid"] and row["ended_at"] >= row["started_at"]
        outputs = sorted(p.name for p in (job / "output").glob("*.safetensors"))
        versions = [v for v in list_versions(registry) if v["job_id"] == job.name]
        assert sorted(Path(v["uri"]).name for v in versions) == outputs
    numbers = [v["version"] for v in list_versions(registry, "shape_lora")]
    assert numbers == list(range(1, len(numbers) + 1))


def test_continue_on_error(registry, standin):
    broken, fine = standin("broken"), standin("fine")
    for job in (broken, fine):
        enqueue(registry, job)
    stopped = run_worker(registry, scenarios={"broken": "fail_unknown_argument"})
    assert stopped.ran == [(broken.name, "failed")] and stopped.exit_code == 1
    assert get_job(registry, fine.name)["status"] == "queued"
    assert "use --continue-on-error" in stopped.said[-1]
    assert get_job(registry, broken.name)["cause"] == "bad_arg"
    went_on = run_worker(registry, continue_on_error=True)
    assert went_on.ran == [(fine.name, "succeeded")]


def test_once_waits_for_a_job_runs_it_and_exits(sqlite_registry, standin):
    registry = sqlite_registry
    first, second = standin("first"), standin("second")
    results = []
    thread = threading.Thread(target=lambda: results.append(run_worker(registry, once=True, drain=False)))
    thread.start()
    time.sleep(0.5)  # the worker is polling an empty queue now
    assert thread.is_alive()
    for job in (first, second):
        enqueue(registry, job)
    thread.join(timeout=60)
    assert results[0].ran == [(first.name, "succeeded")]
    assert get_job(registry, second.name)["status"] == "queued"


def test_a_job_that_cannot_start_fails_with_its_reason(registry, standin):
    # The worker resolves job.toml again for its own machine: a job.toml damaged after queuing stops it there.
    job = standin("badtoml")
    enqueue(registry, job)
    (job / "job.toml").write_text("[training\nlearning_rate = ", encoding="utf-8")
    result = run_worker(registry, continue_on_error=True)
    row = get_job(registry, job.name, check=False)
    assert result.ran == [(job.name, "failed")] and "job.toml" in row["cause"], row["cause"]


@pytest.mark.parametrize("on_term, status", [("requeue", "queued"), ("stop", "cancelled")])
def test_sigterm_puts_the_job_back_or_stops_it(sqlite_registry, standin, on_term, status):
    registry = sqlite_registry
    job = standin("long")
    enqueue(registry, job)
    worker = _spawn_worker("--on-term", on_term, STANDIN_SECONDS="2", STANDIN_HOLD_AT_STEP="2")
    try:
        running = wait_for(lambda: _running_with_steps(registry), 60, "the job to run")
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0].decode()
        assert worker.returncode == 0, output
        assert not liveness.group_alive(running["pgid"]), "the trainer must be stopped with its worker"
    finally:
        worker.kill()
        _kill_group(running["pgid"] if "running" in locals() else None)
    row = get_job(registry, job.name)
    assert row["status"] == status and "stopped by SIGTERM" in output
    if on_term == "requeue":
        assert "put back by worker" in row["cause"] and (job / "attempts" / "1" / "train.log").is_file()
        again = run_worker(registry)
        assert again.ran == [(job.name, "succeeded")]
        assert get_job(registry, job.name)["attempts"] == 2 and len(_started(job)) == 1
    else:
        assert row["cause"] == "terminated" and not (job / "attempts").exists()


def test_sigkill_of_the_worker_leaves_a_row_that_jobs_ls_reports_lost(registry, standin, cli):
    job = standin("killed")
    enqueue(registry, job)
    worker = _spawn_worker(STANDIN_SECONDS="2", STANDIN_HOLD_AT_STEP="2")  # busy at step 2 until stopped
    running = None
    try:
        running = wait_for(lambda: _running_with_steps(registry), 60, "the job to run")
        worker.kill()
        worker.wait(timeout=10)
        listed = json.loads(cli("jobs", "ls", "--json").output)
        [row] = [r for r in listed if r["id"] == job.name]
        assert row["status"] == "lost"
        assert f"supervising process {worker.pid} is gone" in row["cause"]
        assert f"trainer process group {running['pgid']} is still running" in row["cause"]
        stopped = cli("jobs", "stop", job.name, "--grace", "5")
        assert stopped.exit_code == 0 and "cancelled" in stopped.output
        assert not liveness.group_alive(running["pgid"])
    finally:
        worker.kill()
        _kill_group(running and running["pgid"])
    assert get_job(registry, job.name)["status"] == "cancelled"


def test_four_workers_twenty_jobs_each_run_exactly_once(registry, db_url, standin, tmp_path):
    jobs = [standin(f"q{number:02d}") for number in range(20)]
    for job in jobs:
        enqueue(registry, job)
    workers = [_spawn_worker("--drain", "--gpu", str(n), STANDIN_SECONDS="0.3") for n in range(4)]
    outputs = [w.communicate(timeout=300)[0].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], outputs
    rows = {r["id"]: r for r in list_jobs(registry)}
    assert len(rows) == 20 and {r["status"] for r in rows.values()} == {"succeeded"}
    ran_by = {}
    for job in jobs:
        starts = _started(job)
        assert len(starts) == 1 and not (job / "attempts").exists(), f"{job.name} ran {len(starts)} times"
        row = rows[job.name]
        assert row["attempts"] == 1 and row["pgid"] == starts[0]["pgid"] and row["step"] == 10
        ran_by[job.name] = row["worker"]
    # Each worker ran the jobs it said it ran, with its own GPU, and together they ran all 20.
    said = {job.name for out in outputs for job in jobs if f"running {job.name}" in out}
    assert said == set(rows)
    assert {rows[j]["gpu"] for j in rows} <= {"0", "1", "2", "3"}
    assert all(rows[j]["worker"].endswith(f":gpu{rows[j]['gpu']}") for j in rows)
    versions = list_versions(registry)
    assert len(versions) == sum(len(list((job / "output").glob("*.safetensors"))) for job in jobs)
    assert sorted(v["version"] for v in versions) == list(range(1, len(versions) + 1))
    # Nothing depends on the database: a rebuild from the folders gives the same rows.
    live = snapshot(registry)
    fresh = open_registry(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    rebuild(fresh)
    assert snapshot(fresh) == live


def test_jobs_stop_cancels_a_running_job_and_the_worker_goes_on(sqlite_registry, standin, cli):
    registry = sqlite_registry
    first, second = standin("first"), standin("second")
    for job in (first, second):
        enqueue(registry, job)
    results = []
    thread = threading.Thread(target=lambda: results.append(
        run_worker(registry, job_env={"first": {"STANDIN_SECONDS": "8"}})))
    thread.start()
    try:
        running = wait_for(lambda: _running_with_steps(registry), 60, "the first job to run")
        assert running["id"] == first.name
        stopped = cli("jobs", "stop", first.name, "--grace", "5", "--json")
        assert json.loads(stopped.output)["status"] == "cancelled"
    finally:
        thread.join(timeout=120)
    [result] = results
    assert result.ran == [(first.name, "cancelled"), (second.name, "succeeded")] and result.exit_code == 0
    assert get_job(registry, first.name)["cause"] == "interrupted"

"""The queue and workers under faults, on SQLite and on PostgreSQL (KOHYA_WRAP_TEST_PG_URL, which
.ci/postgres.sh sets): damaged jobs fail with their cause and the queue goes on, each job runs exactly
once under load, lost jobs come back, attempts never overwrite each other and resume from the last state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kohya_wrap.job.folder import read_events
from kohya_wrap.registry import liveness
from kohya_wrap.registry.jobs import get_job, list_jobs, update_job
from kohya_wrap.registry.models import list_versions
from kohya_wrap.registry.queue import claim_next, enqueue
from tests.registry.conftest import run_worker, worker_env

DAMAGES = {
    "folder deleted": lambda job: __import__("shutil").rmtree(job),
    "job.toml corrupt": lambda job: (job / "job.toml").write_text("[meta\nname = "),
    "registry.json corrupt": lambda job: (job / "registry.json").write_text("{not json"),
    "command.json corrupt": lambda job: (job / "command.json").write_text("[1, 2"),
}


def _spawn_worker(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kohya_wrap", "worker", "--poll", "0.2", *args],
                            env=worker_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _started(job: Path) -> list[dict]:
    return [e for e in read_events(job) if e["type"] == "started"] if job.is_dir() else []


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_queued_job_fails_with_its_cause_and_the_worker_goes_on(fault, registry, db_url, make_job,
                                                                          damage):
    fault("queue", f"damaged queued job ({damage}) [{db_url.split(':')[0]}]")
    broken, fine = make_job("broken"), make_job("fine")
    for job in (broken, fine):
        enqueue(registry, job)
    before = (broken / "registry.json").read_bytes() if damage == "registry.json corrupt" else None
    DAMAGES[damage](broken)
    result = run_worker(registry)  # no --continue-on-error
    row = get_job(registry, broken.name)
    fault.saw(f"{row['status']}: {row['cause'][:110]}; then {result.ran[-1][1]}, exit {result.exit_code}")
    assert result.ran == [(broken.name, "failed"), (fine.name, "succeeded")] and result.exit_code == 0
    assert row["cause"].startswith("damaged_job: ") and row["status"] == "failed"
    expected = {"folder deleted": "is gone", "job.toml corrupt": "job.toml", "registry.json corrupt": "registry.json",
                "command.json corrupt": "command.json"}[damage]
    assert expected in row["cause"]
    assert _started(broken) == []  # nothing was launched for it
    if before is not None:
        assert (broken / "registry.json").read_bytes() == b"{not json"  # the damaged file is left for repair


def test_three_workers_nine_jobs_one_damaged_each_runs_exactly_once(fault, registry, db_url, make_job):
    fault("queue", f"3 worker processes x 9 jobs, one damaged [{db_url.split(':')[0]}]")
    jobs = [make_job(f"load{n}") for n in range(9)]
    for job in jobs:
        enqueue(registry, job)
    (jobs[4] / "job.toml").write_text("not = [toml")
    workers = [_spawn_worker("--drain", STANDIN_SECONDS="0.3") for _ in range(3)]
    outputs = [w.communicate(timeout=300)[0].decode() for w in workers]
    rows = {r["id"]: r for r in list_jobs(registry)}
    starts = {job.name: len(_started(job)) for job in jobs}
    fault.saw(f"worker exits {[w.returncode for w in workers]}; starts per job {sorted(starts.values())}")
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert rows[jobs[4].name]["status"] == "failed" and starts[jobs[4].name] == 0
    assert all(rows[j.name]["status"] == "succeeded" and starts[j.name] == 1 for j in jobs if j != jobs[4])
    assert all(rows[j.name]["attempts"] == 1 for j in jobs)
    said = [job.name for out in outputs for job in jobs if f"running {job.name}" in out]
    assert sorted(said) == sorted(job.name for job in jobs)  # each claimed by exactly one worker


def test_a_claimed_job_whose_trainer_never_started_goes_back_to_the_queue(fault, registry, db_url, make_job, cli):
    fault("queue", f"lost before its trainer started: requeued automatically [{db_url.split(':')[0]}]")
    job = make_job("orphan")
    enqueue(registry, job)
    claimed = claim_next(registry, worker="host:1")
    dead = 2**22 + 4242  # a pid that is not running: the worker died after its claim
    update_job(registry, claimed["id"], pid=dead, pid_start=None)
    listed = json.loads(cli("jobs", "ls", "--json").output)
    [row] = [r for r in listed if r["id"] == job.name]
    fault.saw(f"jobs ls: {row['status']} ({row['cause'][:90]})")
    assert row["status"] == "queued" and row["cause"].startswith("requeued: supervising process")
    result = run_worker(registry)
    assert result.ran == [(job.name, "succeeded")] and len(_started(job)) == 1


def test_a_stale_lost_cause_is_refreshed(fault, sqlite_registry, make_job, cli):
    fault("queue", "a lost job's 'trainer still running' cause after the trainer ended")
    job = make_job("stale")
    enqueue(sqlite_registry, job)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    update_job(sqlite_registry, job.name, status="running", pid=2**22 + 99, pgid=sleeper.pid,
               host=liveness.this_host(), started_at=time.time(), worker="host:9")
    first = get_job(sqlite_registry, job.name)
    assert first["status"] == "lost" and "still running" in first["cause"]
    os.killpg(sleeper.pid, signal.SIGKILL)
    sleeper.wait()
    second = get_job(sqlite_registry, job.name)
    fault.saw(f"before: ...{first['cause'][-60:]}; after: {second['cause'][-60:]}")
    assert second["status"] == "lost" and "still running" not in second["cause"]


def _kill_worker_mid_run(registry, job: Path) -> dict:
    worker = _spawn_worker(STANDIN_SECONDS="1", FAULT_TRAINER="hold-state")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            states = list((job / "output").glob("shape_lora-state/train_state.json"))
            row = get_job(registry, job.name, check=False)
            if states and row["pgid"]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the job never saved its first state")
        worker.kill()
        worker.wait(timeout=10)
        os.killpg(row["pgid"], signal.SIGKILL)
        gone = time.monotonic() + 10
        while liveness.group_alive(row["pgid"]) and time.monotonic() < gone:
            time.sleep(0.1)
    finally:
        worker.kill()
    return row


def test_retry_of_a_job_lost_mid_run_resumes_and_keeps_every_attempt(fault, registry, db_url, make_job, cli):
    fault("queue", f"jobs retry after a job was lost mid-run [{db_url.split(':')[0]}]")
    job = make_job("retried")
    enqueue(registry, job)
    _kill_worker_mid_run(registry, job)
    assert get_job(registry, job.name)["status"] == "lost"
    first_files = {p.name: p.read_bytes() for p in (job / "output").glob("*.safetensors")}
    first_versions = {Path(v["uri"]).name: (v["version"], v["sha256"]) for v in list_versions(registry)}
    retried = cli("jobs", "retry", job.name, "--json")
    data = json.loads(retried.output)
    assert retried.exit_code == 0 and data["status"] == "queued" and data["resume_step"]
    archived = job / "attempts" / "1" / "output"
    assert {p.name: p.read_bytes() for p in archived.glob("*.safetensors")} == first_files
    result = run_worker(registry, scenarios={"retried": "resume"})
    [started] = _started(job)
    fault.saw(f"attempt 2 resumed from {Path(started['resume']).relative_to(job)} (step {started['step_offset']}); "
              f"{result.ran[0][1]}")
    assert result.ran == [(job.name, "succeeded")]
    assert Path(started["resume"]).parent == archived and started["step_offset"] == data["resume_step"]
    assert {p.name: p.read_bytes() for p in archived.glob("*.safetensors")} == first_files  # never overwritten
    versions = list_versions(registry)
    kept = {Path(v["uri"]).name: (v["version"], v["sha256"]) for v in versions if "/attempts/1/output/" in v["uri"]}
    assert kept == first_versions  # each earlier version: same bytes, same number, at its new place
    assert len(versions) > len(first_versions)  # the new attempt's files are new versions


def test_retry_policy_requeues_a_lost_job(fault, sqlite_registry, make_job):
    fault("queue", "worker retry policy (retry_lost) for a job lost mid-run")
    job = make_job("policy")
    enqueue(sqlite_registry, job)
    claim_next(sqlite_registry, worker="host:7")
    update_job(sqlite_registry, job.name, pid=2**22 + 7, pid_start=None, started_at=time.time())  # then it died
    (job / "events.jsonl").write_text(json.dumps({"type": "started", "t": time.time(), "pid": 1}) + "\n")
    assert get_job(sqlite_registry, job.name)["status"] == "lost"
    result = run_worker(sqlite_registry, retry_lost=3)
    fault.saw(f"{result.said[0]}; {result.ran}")
    assert result.ran == [(job.name, "succeeded")] and (job / "attempts" / "1" / "events.jsonl").is_file()
    assert get_job(sqlite_registry, job.name)["attempts"] == 2

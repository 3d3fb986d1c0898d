"""Disk full and read-only places: a clear refusal before the run, a true terminal record after it, and
never a traceback. Real small filesystems (tmpfs) where this process can mount them; an injected
failing writer for the supervisor's own writes everywhere."""

from __future__ import annotations

import errno
import json
import os
import time

import pytest

from kohya_wrap.errors import LimitReached
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.runner.disk import estimate_disk_use, lora_weights
from tests.faults.conftest import fill
from tests.registry.conftest import run_worker

# small enough for the disk-use pre-flight on a 48 MB filesystem (one LoRA of rank 1, no states)
SMALL_RUN = ("network.network_dim=1", 'saving.save_precision="fp16"', "saving.save_state=false",
             "~saving.save_every_n_steps")


def test_prepare_refuses_a_run_bigger_than_the_free_space(fault, make_job, small_fs):
    fault("disk", "prepare with less free space than the run's estimated disk use")
    runs = small_fs("8m")
    with pytest.raises(LimitReached) as caught:
        make_job("shape", "network.network_dim=32", runs_dir=runs)
    fault.saw(caught.value.message)
    assert "Not enough free disk space" in caught.value.message and str(runs) in caught.value.message
    assert "LoRA file" in caught.value.message and "--runs" in caught.value.hint
    assert list(runs.iterdir()) == []  # nothing half-made


def test_disk_estimate_counts_rank_layers_states_and_samples(fault):
    fault("disk", "disk-use estimate (pure)")
    args = {"network_dim": 32, "network_train_unet_only": True, "save_precision": "fp16"}
    one = estimate_disk_use(args, steps=1000, epochs=10, resolution=(1024, 1024))
    assert lora_weights(args) == 32 * 2_659_840 and one.parts[0][1] == 1
    saves = estimate_disk_use({**args, "save_every_n_steps": 100}, steps=1000, epochs=10, resolution=(1024, 1024))
    assert saves.parts[0][1] == 11  # steps 100..1000 (the last step saves too) + the final LoRA
    kept = estimate_disk_use({**args, "save_every_n_steps": 100, "save_last_n_steps": 200}, steps=1000,
                             epochs=10, resolution=(1024, 1024))
    assert kept.parts[0][1] == 4  # steps 800, 900, 1000 + the final LoRA
    # what the real CPU walk-through left (bench/results/walkthrough.md): 4 steps, saves every 2, 2 states kept
    walk = estimate_disk_use({**args, "save_every_n_steps": 2, "save_last_n_steps_state": 2, "save_state": True},
                             steps=4, epochs=1, resolution=(256, 256))
    assert [count for _, count, _ in walk.parts[:2]] == [3, 3]  # step2, step4, final: LoRAs and states
    states = estimate_disk_use({**args, "save_every_n_epochs": 2, "save_state": True, "optimizer_type": "AdamW"},
                               steps=1000, epochs=10, resolution=(1024, 1024))
    state = dict((what, each) for what, _, each in states.parts)["saved state"]
    assert state == 32 * 2_659_840 * 12 + (1 << 20)  # fp32 weights + two fp32 Adam moments
    fault.saw(f"SDXL dim 32: LoRA {one.parts[0][2] / 2**20:.0f} MiB, AdamW state {state / 2**20:.0f} MiB")


@pytest.mark.parametrize("place", ["home-is-a-file", "runs-is-a-file", "runs-read-only"])
def test_runs_or_home_that_cannot_hold_jobs_is_a_clear_error(fault, cli, place, tmp_path, monkeypatch, small_fs):
    fault("disk", f"--runs / KOHYA_WRAP_HOME: {place}")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = ["train", "sdxl-style", "--example", "--dry-run"]
    if place == "home-is-a-file":
        monkeypatch.setenv("KOHYA_WRAP_HOME", str(blocker))
    elif place == "runs-is-a-file":
        args += ["--runs", str(blocker)]
    else:
        runs = small_fs("1m")
        small_fs.read_only(runs)
        args += ["--runs", str(runs)]
    result = cli(*args)
    fault.saw(result.output.strip().splitlines()[0] if result.output.strip() else result.exit_code)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "not a folder" in result.output or "read-only" in result.output


def test_registry_home_that_is_a_file_is_a_clear_error(fault, cli, tmp_path, monkeypatch):
    fault("disk", "KOHYA_WRAP_HOME is a file: jobs ls")
    blocker = tmp_path / "home-file"
    blocker.write_text("x")
    monkeypatch.setenv("KOHYA_WRAP_HOME", str(blocker))
    result = cli("jobs", "ls")
    fault.saw(result.output.strip())
    assert result.exit_code == 2 and "not a folder" in result.output and "Traceback" not in result.output


def test_disk_full_mid_run_ends_disk_full_with_outputs_recorded(fault, make_job, small_fs, sqlite_registry,
                                                                 monkeypatch):
    fault("disk", "disk full while the trainer saves (real tmpfs)")
    runs = small_fs("48m")
    job = make_job("full", *SMALL_RUN, runs_dir=runs)
    fill(runs, leave=2_600_000)  # room for the reserve, the log and one 1.5 MB LoRA, not two
    enqueue(sqlite_registry, job)
    result = run_worker(sqlite_registry, job_env={"full": {"FAULT_TRAINER": "big-lora",
                                                           "FAULT_LORA_BYTES": str(1_500_000)}})
    summary = json.loads((job / "summary.json").read_text())
    row = get_job(sqlite_registry, job.name)
    fault.saw(f"{summary['status']} {summary['cause']}: {summary['outcome']['message']}")
    assert result.ran == [(job.name, "failed")]
    assert summary["cause"] == "disk_full" and row["status"] == "failed" and row["cause"] == "disk_full"
    assert "free in" in summary["outcome"]["message"] and str(job) in summary["outcome"]["message"]
    good = [o for o in summary["outputs"] if o.get("good")]
    partial = [o for o in summary["outputs"] if o.get("exists") and not o.get("good")]
    assert len(good) == 1 and len(good[0]["sha256"]) == 64 and partial and partial[0]["error"]
    events = [json.loads(line) for line in (job / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "exited" and events[-1]["cause"] == "disk_full"
    assert not (job / ".kohya-wrap-reserve").exists()


def test_finished_training_then_full_disk_is_still_succeeded(fault, make_job, small_fs, sqlite_registry):
    fault("disk", "disk full after training finished (reports cannot be written)")
    from kohya_wrap.runner.train import plan, run

    runs = small_fs("48m")
    job = make_job("done", *SMALL_RUN, runs_dir=runs)

    def fill_at_exit(event: dict) -> None:
        if event.get("type") == "exited":
            fill(runs, leave=0)

    result = run(job, plan(job, registry=sqlite_registry), sinks=[fill_at_exit], registry=sqlite_registry)
    summary = json.loads((job / "summary.json").read_text())
    row = get_job(sqlite_registry, job.name)
    fault.saw(f"{summary['status']}; {summary.get('record_problem')}")
    assert result.outcome.status == "succeeded" and summary["status"] == "succeeded" and row["status"] == "succeeded"
    assert "not written" in summary["record_problem"] and "disk is full" in summary["record_problem"]
    assert all(o["good"] for o in summary["outputs"] if o["final"])


def test_jobs_ls_never_crashes_on_a_write(fault, cli, small_fs, monkeypatch, runs):
    fault("disk", "jobs ls with a lost job and a read-only registry")
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.jobs import update_job
    from tests.registry.conftest import bare_job

    place = small_fs("4m")
    url = f"sqlite:///{place / 'registry.db'}"
    monkeypatch.setenv("KOHYA_WRAP_DB", url)
    registry = open_registry(url)
    folder = bare_job(runs, "20260101-000000-gone-0001")
    enqueue(registry, folder)
    update_job(registry, folder.name, status="running", pid=2**22 + 12345, host=os.uname().nodename,
               started_at=time.time(), pgid=None, worker=None)
    registry.close()
    small_fs.read_only(place)
    result = cli("jobs", "ls")
    fault.saw(result.output.strip().splitlines()[-1])
    assert result.exit_code == 0 and "lost" in result.output and "Traceback" not in result.output


def test_read_only_job_folder_fails_that_job_and_the_worker_goes_on(fault, make_job, small_fs, sqlite_registry):
    fault("disk", "read-only job folder under a worker")
    place = small_fs("48m")
    stuck, fine = make_job("stuck", *SMALL_RUN, runs_dir=place), make_job("fine")
    for job in (stuck, fine):
        enqueue(sqlite_registry, job)
    small_fs.read_only(place)
    result = run_worker(sqlite_registry)
    row = get_job(sqlite_registry, stuck.name)
    fault.saw(f"{row['status']}: {row['cause']}; then {result.ran[-1]}")
    assert result.ran == [(stuck.name, "failed"), (fine.name, "succeeded")] and result.exit_code == 0
    assert row["cause"].startswith("read_only:") and "cannot be written" in row["cause"]


def test_injected_full_disk_on_the_supervisors_own_writes(fault, make_job, sqlite_registry, monkeypatch):
    fault("disk", "injected ENOSPC on train.log and events.jsonl until the reserve is given back (no mount)")
    from kohya_wrap.runner import writes

    job = make_job("inject")
    enqueue(sqlite_registry, job)
    reserve, real_write, calls = job / writes.RESERVE_NAME, os.write, {"n": 0}

    def full(target: str) -> bool:  # the disk is "full" for the job folder while the reserve holds space
        calls["n"] += 1
        return calls["n"] > 3 and target.startswith(str(job)) and reserve.exists()

    def failing_write(fd, data):
        if full(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    class FullRawLog(writes.RawLog):
        def __init__(self, path):
            super().__init__(path)
            write = self._handle.write
            self._handle.write = lambda chunk: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")) \
                if full(str(path)) else write(chunk)

    monkeypatch.setattr(writes.os, "write", failing_write)
    monkeypatch.setattr("kohya_wrap.runner.supervise.RawLog", FullRawLog)
    result = run_worker(sqlite_registry)
    summary = json.loads((job / "summary.json").read_text())
    events = [json.loads(line) for line in (job / "events.jsonl").read_text().splitlines()]
    fault.saw(f"{summary['status']} {summary['cause']}; {len(events)} events written after the reserve was freed")
    # the trainer itself was fine: the run succeeded, and the events the disk held back were written later,
    # whole (no half line left by the failed write)
    assert result.ran == [(job.name, "succeeded")] and summary["status"] == "succeeded"
    assert events[-1]["type"] == "exited" and any(e["type"] == "step" for e in events)
    assert not reserve.exists() and "train.log stopped early" in summary["record_problem"]

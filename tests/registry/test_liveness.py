"""When a 'running' row is really lost: supervisor gone, pid reused, zombie, silent remote host."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from kohya_wrap.registry import liveness, schema
from kohya_wrap.registry.jobs import get_job, list_jobs
from kohya_wrap.job.meta import read_meta
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.registry.rebuild import rebuild
from tests.registry.conftest import bare_job

HOST = "here"
NOW = 1_795_249_430.0


def row(**values) -> dict:
    return {"id": "job-1", "host": HOST, "pid": 123, "pid_start": "9", "pgid": None,
            "heartbeat_at": NOW - 10, "started_at": NOW - 100, **values}


def test_live_supervisor_is_not_lost():
    assert liveness.lost_cause(row(), host=HOST, now=NOW, alive=lambda pid, start: True) is None


def test_gone_supervisor_is_lost_and_an_orphan_trainer_is_named():
    gone = lambda pid, start: False  # noqa: E731
    cause = liveness.lost_cause(row(), host=HOST, now=NOW, alive=gone, group=lambda g: False)
    assert "supervising process 123 is gone" in cause and "still running" not in cause
    cause = liveness.lost_cause(row(pgid=456), host=HOST, now=NOW, alive=gone, group=lambda g: True)
    assert "trainer process group 456 is still running: kohya-wrap jobs stop job-1" in cause


def test_other_host_is_judged_by_heartbeat_only():
    never = lambda *a: (_ for _ in ()).throw(AssertionError("must not probe another host's pid"))  # noqa: E731
    fresh = row(host="gpu-box-2", heartbeat_at=NOW - liveness.STALE_S + 1)
    assert liveness.lost_cause(fresh, host=HOST, now=NOW, alive=never) is None
    stale = row(host="gpu-box-2", heartbeat_at=NOW - liveness.STALE_S - 1)
    assert "no heartbeat from host gpu-box-2" in liveness.lost_cause(stale, host=HOST, now=NOW, alive=never)


def test_real_processes_dead_zombie_and_reused_pid():
    me = os.getpid()
    assert liveness.pid_alive(me, liveness.pid_start_token(me))
    assert not liveness.pid_alive(me, "1")  # same pid, different start time: reused by someone else
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while liveness.pid_start_token(child.pid) and open(f"/proc/{child.pid}/stat").read().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not liveness.pid_alive(child.pid)  # exited, not reaped yet
    child.wait()
    assert not liveness.pid_alive(child.pid)


def test_jobs_ls_marks_a_dead_supervisor_lost_in_row_and_folder(registry, runs):
    folder = bare_job(runs, "20260101-000001-a-0001")
    enqueue(registry, folder)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with registry.write() as conn:
        conn.execute(schema.training_jobs.update().values(
            status=schema.RUNNING, host=liveness.this_host(), pid=dead.pid, pid_start=None))
    assert get_job(registry, "20260101-000001-a-0001", check=False)["status"] == schema.RUNNING
    [seen] = list_jobs(registry)
    assert seen["status"] == schema.LOST and f"process {dead.pid} is gone" in seen["cause"]
    assert get_job(registry, seen["id"], check=False)["status"] == schema.LOST
    assert read_meta(folder)["lost"]["cause"] == seen["cause"]
    rebuild(registry, runs)
    assert get_job(registry, seen["id"], check=False)["status"] == schema.LOST

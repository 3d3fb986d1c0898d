"""The small library functions the dashboard needed: registry.jobs.page_jobs, runner.control.retry_job /
mark_job, registry.models.file_path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job.meta import read_meta
from kohya_wrap.registry import liveness
from kohya_wrap.registry.jobs import get_job, page_jobs, update_job
from kohya_wrap.registry.models import file_path
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.runner.control import mark_job, retry_job
from tests.registry.conftest import bare_job


@pytest.fixture
def jobs(registry, runs):
    made = []
    for n in range(12):
        folder = bare_job(runs, f"20260101-0000{n:02d}-j{n}-{n:04x}", f"j{n}")
        enqueue(registry, folder)
        made.append(folder.name)
    for name in made[::4]:
        update_job(registry, name, status="failed")
    return made


def test_page_jobs_pages_newest_first_with_a_total(registry, jobs):
    rows, total = page_jobs(registry, offset=0, limit=5)
    assert total == 12 and [r["id"] for r in rows] == sorted(jobs, reverse=True)[:5]
    rest, _ = page_jobs(registry, offset=10, limit=5)
    assert [r["id"] for r in rest] == sorted(jobs, reverse=True)[10:]
    assert "config" not in rows[0] and "job_dir" in rows[0]
    failed, count = page_jobs(registry, statuses=["failed"], limit=50)
    assert count == 3 and {r["id"] for r in failed} == set(jobs[::4])
    assert page_jobs(registry, statuses=["running"]) == ([], 0)


def test_page_jobs_marks_a_dead_running_job_lost(registry, jobs):
    update_job(registry, jobs[0], status="running", host=liveness.this_host(), pid=2 ** 22 + 12345)
    rows, _ = page_jobs(registry, statuses=["running"])
    assert rows[0]["status"] == "lost" and "is gone" in rows[0]["cause"]


def test_retry_only_jobs_that_ended_without_success(registry, jobs):
    failed = jobs[0]
    row = retry_job(registry, failed)
    assert row["status"] == "queued" and row["cause"] == "retried by the user"
    with pytest.raises(KohyaWrapError, match="is queued"):
        retry_job(registry, failed)
    update_job(registry, jobs[1], status="succeeded")
    with pytest.raises(KohyaWrapError, match="is succeeded"):
        retry_job(registry, jobs[1])


def test_retry_refuses_while_the_trainer_group_lives(registry, jobs):
    update_job(registry, jobs[0], status="lost", host=liveness.this_host(), pgid=os.getpgid(0))
    with pytest.raises(KohyaWrapError, match="still running"):
        retry_job(registry, jobs[0])


def test_mark_job(registry, jobs, runs):
    job = jobs[1]
    update_job(registry, job, status="running", host="elsewhere", pid=99, heartbeat_at=time.time())
    row = mark_job(registry, job, "lost")
    assert row["status"] == "lost" and row["cause"] == "marked lost by the user (was running)"
    assert read_meta(runs / job)["outcome"]["status"] == "lost"
    assert mark_job(registry, job, "failed")["status"] == "failed"
    assert get_job(registry, job)["status"] == "failed"
    with pytest.raises(KohyaWrapError, match="only a running or lost job"):
        mark_job(registry, job, "lost")
    with pytest.raises(KohyaWrapError, match="not 'succeeded'"):
        mark_job(registry, job, "succeeded")


def test_mark_job_refuses_a_live_supervisor_here(registry, jobs):
    update_job(registry, jobs[2], status="running", host=liveness.this_host(), pid=os.getpid(),
               pid_start=liveness.pid_start_token(os.getpid()))
    with pytest.raises(KohyaWrapError, match="is alive on this machine"):
        mark_job(registry, jobs[2], "failed")


def test_file_path_of_a_uri(tmp_path):
    target = tmp_path / "a b" / "x.safetensors"
    assert file_path(target.as_uri()) == target
    assert isinstance(file_path(target.as_uri()), Path)

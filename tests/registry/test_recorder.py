"""JobRecorder: throttled progress writes, heartbeat, and never breaking a run over the registry."""

from __future__ import annotations

import struct
import time

import pytest
import sqlalchemy as sa

from kohya_wrap.registry import recorder as recorder_mod
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.registry.models import list_versions
from kohya_wrap.registry.recorder import JobRecorder
from tests.registry.conftest import bare_job

T0 = 1_795_249_430.0


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def test_progress_writes_are_throttled_but_key_events_are_not(registry, runs):
    folder = bare_job(runs, "20260101-000001-a-0001")
    clock = Clock()
    rec = JobRecorder(registry, folder, min_interval_s=10, heartbeat_s=3600, clock=clock)
    rec.start(worker="w")
    assert get_job(registry, folder.name)["status"] == "running"
    rec.on_event({"type": "started", "t": T0, "pid": 42, "pgid": 42})
    clock.now = T0 + 1
    rec.on_event({"type": "step", "t": T0 + 1, "step": 1, "total": 6, "avr_loss": 1.13, "s_per_it": 6.2})
    row = get_job(registry, folder.name, check=False)
    assert row["pgid"] == 42 and row["step"] is None  # within 10 s of the last write
    clock.now = T0 + 11
    rec.on_event({"type": "step", "t": T0 + 11, "step": 2, "total": 6, "loss": 1.057, "s_per_it": 6.3})
    row = get_job(registry, folder.name, check=False)
    assert (row["step"], row["total_steps"], row["last_loss"], row["mean_s_per_it"]) == (2, 6, 1.057, 6.3)
    assert row["heartbeat_at"] == T0 + 11
    clock.now = T0 + 12
    rec.on_event({"type": "epoch", "t": T0 + 12, "epoch": 1})
    rec.on_event({"type": "error", "t": T0 + 12, "kind": "oom", "message": "out of memory"})
    assert get_job(registry, folder.name, check=False)["epoch"] == 1  # the error event forced the write
    rec.finish()


def test_cost_so_far_follows_the_rate(registry, runs):
    folder = bare_job(runs, "20260101-000001-a-0001")
    (folder / "job.toml").write_text('[meta]\nname = "a"\n[limits]\nmax_cost_usd = 1.0\ngpu_hourly_usd = 36.0\n')
    clock = Clock()
    rec = JobRecorder(registry, folder, min_interval_s=0, heartbeat_s=3600, clock=clock)
    rec.start()
    rec.on_event({"type": "started", "t": T0})
    clock.now = T0 + 30
    rec.on_event({"type": "step", "t": T0 + 30, "step": 1, "total": 10})
    row = get_job(registry, folder.name, check=False)
    assert row["cost_usd"] == pytest.approx(0.30) and row["hourly_usd"] == 36.0
    rec.finish()


def test_heartbeat_thread_beats_until_finish(registry, runs):
    folder = bare_job(runs, "20260101-000001-a-0001")
    rec = JobRecorder(registry, folder, heartbeat_s=0.05)
    rec.start()
    first = get_job(registry, folder.name, check=False)["heartbeat_at"]
    time.sleep(0.4)
    assert get_job(registry, folder.name, check=False)["heartbeat_at"] > first
    rec.finish()
    assert not rec._beat.is_alive()


def test_a_busy_registry_never_breaks_the_run(registry, runs, monkeypatch, caplog):
    folder = bare_job(runs, "20260101-000001-a-0001")
    rec = JobRecorder(registry, folder, min_interval_s=0, heartbeat_s=3600)
    rec.start()

    def locked(*args, **kwargs):
        raise sa.exc.OperationalError("UPDATE training_jobs", {}, Exception("database is locked"))

    monkeypatch.setattr(recorder_mod, "update_job", locked)
    rec.on_event({"type": "step", "t": T0, "step": 1, "total": 6})
    assert "database is locked" in caplog.text
    monkeypatch.undo()
    rec.finish()


def test_a_checkpoint_cut_short_is_recorded_with_its_problem(registry, runs):
    folder = bare_job(runs, "20260101-000001-a-0001")
    (folder / "output").mkdir()
    # A file killed mid-save: the header length promises more bytes than the file holds.
    (folder / "output" / "a-step00000002.safetensors").write_bytes(struct.pack("<Q", 4096) + b'{"__meta')
    rec = JobRecorder(registry, folder, heartbeat_s=3600)
    rec.start()
    rec.on_event({"type": "saved", "t": T0, "path": "output/a-step00000002.safetensors"})
    rec.on_event({"type": "step", "t": T0 + 1, "step": 3, "total": 6})
    rec.finish()
    [version] = list_versions(registry)
    assert "does not fit" in version["problem"] and version["sha256"] is None and version["model_name"] == "a"

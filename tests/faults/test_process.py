"""Process and file edge cases: a flood of output without a newline, a trainer that closes its output but
keeps running, a LoRA cut off after its header, and trainer lines naming files outside the job."""

from __future__ import annotations

import json
import os
import resource
import time

from kohya_wrap.job.folder import read_events
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.registry.models import list_versions
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.runner.supervise import run_job
from kohya_wrap.runner.writes import MAX_LINE, LineBound
from tests.registry.conftest import run_worker

FLOOD_BYTES = int(os.environ.get("FAULT_FLOOD_BYTES", str(300 << 20)))


def test_300_mb_without_a_newline_is_followed_in_linear_time(fault, make_job, monkeypatch):
    fault("process", f"{FLOOD_BYTES >> 20} MB of trainer output without a newline")
    job = make_job("flood")
    monkeypatch.setenv("FAULT_TRAINER", "flood")
    monkeypatch.setenv("FAULT_BYTES", str(FLOOD_BYTES))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    outcome = run_job(job)
    took = time.monotonic() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    warnings = [e for e in read_events(job) if e["type"] == "warning" and e.get("kind") == "long_line"]
    fault.saw(f"{outcome.status} in {took:.1f} s, peak memory +{grown_mb:.0f} MB, train.log "
              f"{(job / 'train.log').stat().st_size >> 20} MB, one long_line warning")
    assert outcome.status == "succeeded"  # the replay after the flood still parses to a good run
    assert (job / "train.log").stat().st_size > FLOOD_BYTES  # the raw log keeps every byte
    assert len(warnings) == 1 and took < 60 and grown_mb < 200


def test_line_bound_is_linear_and_exact(fault):
    fault("process", "line bound: what the parser sees of long lines")
    bound = LineBound(limit=10)
    seen = b"".join(bound.cut(chunk) for chunk in [b"0123456", b"789abcdef", b"ghi\nshort\r", b"x" * 25, b"\nend"])
    assert seen == b"0123456789\nshort\r" + b"x" * 10 + b"\nend" and bound.dropped == 9 + 15
    started = time.monotonic()
    big = LineBound()
    for _ in range(2000):  # 128 MB in 64 KiB chunks, no newline
        assert len(big.cut(b"y" * 65536)) <= MAX_LINE
    fault.saw(f"128 MB in 64 KiB chunks cut in {time.monotonic() - started:.2f} s; {big.dropped >> 20} MB dropped")
    assert time.monotonic() - started < 5


def test_limits_apply_on_the_clock_after_the_trainer_closes_its_output(fault, make_job, sqlite_registry, monkeypatch):
    fault("process", "trainer closes stdout and keeps running: the time limit still stops it")
    from kohya_wrap.runner.train import plan, run

    job = make_job("quiet", "limits.max_hours=0.0005")  # 1.8 s
    monkeypatch.setenv("FAULT_TRAINER", "quiet")
    started = time.monotonic()
    result = run(job, plan(job, force=True, registry=sqlite_registry), registry=sqlite_registry)
    took = time.monotonic() - started
    fault.saw(f"{result.outcome.status} ({result.outcome.cause}) after {took:.1f} s")
    assert result.outcome.status == "stopped" and result.outcome.cause == "time_limit" and took < 40
    assert [e["cause"] for e in read_events(job) if e["type"] == "limit"] == ["time_limit"]


def test_a_lora_cut_off_after_its_header_is_not_good(fault, make_job, sqlite_registry, monkeypatch):
    fault("process", "final LoRA cut off right after its header")
    job = make_job("cut")
    enqueue(sqlite_registry, job)
    run_worker(sqlite_registry, job_env={"cut": {"FAULT_TRAINER": "header-only"}})
    summary = json.loads((job / "summary.json").read_text())
    final = next(o for o in summary["outputs"] if o["final"])
    version = next(v for v in list_versions(sqlite_registry) if v["uri"].endswith("/shape_lora.safetensors"))
    fault.saw(f"{summary['status']}: {final['error'][-90:]}")
    assert not final["good"] and "promises" in final["error"] and summary["status"] != "succeeded"
    assert version["problem"] and version["sha256"] is None


def test_saving_checkpoint_outside_the_job_is_not_an_output(fault, make_job, sqlite_registry):
    fault("process", "trainer line `saving checkpoint: /etc/passwd`")
    job = make_job("outsider")
    enqueue(sqlite_registry, job)
    run_worker(sqlite_registry, job_env={"outsider": {"FAULT_TRAINER": "passwd"}})
    events = read_events(job)
    outside = [e for e in events if e["type"] == "warning" and e.get("kind") == "saved_outside_output"]
    saved = [e["path"] for e in events if e["type"] == "saved"]
    uris = [v["uri"] for v in list_versions(sqlite_registry)]
    summary = json.loads((job / "summary.json").read_text())
    fault.saw(f"{len(outside)} warnings, {len(uris)} versions all inside output/; status {summary['status']}")
    assert len(outside) == 2 and not any("/etc/passwd" in path or "outside-of" in path for path in saved)
    assert uris and all(f"/{job.name}/output/" in uri for uri in uris)
    assert not any("/etc/passwd" in o["path"] for o in summary["outputs"])
    assert get_job(sqlite_registry, job.name)["status"] == "succeeded"

"""The queue: order, atomic claims (also between processes), requeue, removal, sweeps."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.registry import schema
from kohya_wrap.registry.jobs import get_job, list_jobs
from kohya_wrap.job.meta import read_meta
from kohya_wrap.registry.queue import claim_next, enqueue, queued, requeue, unqueue
from kohya_wrap.runner.submit import expand_sweeps
from tests.registry.conftest import bare_job, worker_env


def test_claims_follow_priority_then_queue_time(registry, runs):
    enqueue(registry, bare_job(runs, "20260101-000001-a-0001"), now=100.0)
    enqueue(registry, bare_job(runs, "20260101-000002-b-0002"), now=50.0)
    enqueue(registry, bare_job(runs, "20260101-000003-c-0003"), now=200.0, priority=5)
    order = [claim_next(registry, worker="w")["id"] for _ in range(3)]
    assert order == ["20260101-000003-c-0003", "20260101-000002-b-0002", "20260101-000001-a-0001"]
    assert claim_next(registry, worker="w") is None


def test_a_claim_records_who_runs_it_in_the_row_and_the_folder(registry, runs):
    folder = bare_job(runs, "20260101-000001-a-0001")
    enqueue(registry, folder)
    row = claim_next(registry, worker="host:1:gpu0", gpu="0")
    assert row["status"] == schema.RUNNING and row["attempts"] == 1 and row["gpu"] == "0"
    meta = read_meta(folder)
    assert meta["queue"]["state"] == "claimed" and meta["supervisor"]["worker"] == "host:1:gpu0"
    assert meta["supervisor"]["pid"] == row["pid"]


def test_requeue_archives_the_attempt_and_keeps_the_place_in_line(registry, runs):
    first = bare_job(runs, "20260101-000001-a-0001")
    enqueue(registry, first, now=10.0)
    enqueue(registry, bare_job(runs, "20260101-000002-b-0002"), now=20.0)
    claimed = claim_next(registry, worker="w")
    (first / "train.log").write_bytes(b"partial\r")
    (first / "events.jsonl").write_text('{"type": "started", "t": 11.0}\n')
    row = requeue(registry, claimed["id"], reason="put back")
    assert row["status"] == schema.QUEUED and row["cause"] == "put back" and row["attempts"] == 1
    assert (first / "attempts" / "1" / "train.log").read_bytes() == b"partial\r"
    assert not (first / "events.jsonl").exists()
    again = claim_next(registry, worker="w")
    assert again["id"] == claimed["id"] and again["attempts"] == 2


def test_unqueue_only_takes_queued_jobs(registry, runs):
    folder = bare_job(runs, "20260101-000001-a-0001")
    enqueue(registry, folder)
    assert unqueue(registry, "20260101-000001")["status"] == schema.PREPARED
    assert queued(registry) == [] and "queue" not in read_meta(folder)
    enqueue(registry, folder)
    claim_next(registry, worker="w")
    with pytest.raises(KohyaWrapError, match="running, not queued"):
        unqueue(registry, "20260101-000001-a-0001")


def test_expand_sweeps_makes_every_combination():
    assert expand_sweeps(["network.network_dim=16,32"]) == [
        ("network_dim16", ["network.network_dim=16"]), ("network_dim32", ["network.network_dim=32"])]
    grid = expand_sweeps(["network.network_dim=4,8", "optimizer.learning_rate=1e-4,5e-5"])
    assert len(grid) == 4 and grid[3] == ("network_dim8-learning_rate5e-5",
                                          ["network.network_dim=8", "optimizer.learning_rate=5e-5"])
    assert expand_sweeps(['meta.name="a b"'])[0][0] == "name_a_b_"
    for bad in ("network_dim", "=1,2", "x="):
        with pytest.raises(KohyaWrapError, match="--sweep"):
            expand_sweeps([bad])


CLAIMER = textwrap.dedent("""
    import json, sys, time
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.jobs import update_job
    from kohya_wrap.registry.queue import claim_next
    registry, log = open_registry(), open(sys.argv[1], "a")
    while (row := claim_next(registry, worker=sys.argv[2])) is not None:
        log.write(json.dumps({"job": row["id"], "worker": sys.argv[2]}) + "\\n"); log.flush()
        time.sleep(0.01)
        update_job(registry, row["id"], status="succeeded")
""")


def test_four_processes_claim_twenty_jobs_exactly_once(registry, runs, tmp_path):
    for number in range(20):
        enqueue(registry, bare_job(runs, f"20260101-0000{number:02d}-j-{number:04x}"), now=float(number))
    log = tmp_path / "claims.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(log), f"w{n}"], env=worker_env())
             for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    claims = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(c["job"] for c in claims) == sorted(r["id"] for r in list_jobs(registry, check=False))
    assert len(claims) == 20 == len({c["job"] for c in claims})
    rows = list_jobs(registry)
    assert {r["status"] for r in rows} == {"succeeded"} and all(r["attempts"] == 1 for r in rows)
    by_worker = {r["id"]: r["worker"] for r in rows}
    assert all(by_worker[c["job"]] == c["worker"] for c in claims)
    assert get_job(registry, claims[0]["job"])["status"] == "succeeded"

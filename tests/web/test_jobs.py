"""Jobs routes: the paged list, one job (page and JSON twin), sample files, stop / retry / mark lost or failed."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("sse_starlette", reason="the dashboard needs the [web] extra")

import json
import time
from pathlib import Path

from kohya_wrap.job.meta import update_meta
from kohya_wrap.registry.jobs import get_job, update_job
from kohya_wrap.registry.queue import enqueue
from tests.registry.conftest import bare_job
from tests.conftest import wait_for
from tests.web.conftest import job_dir, make_client, csrf_of


def _bare_jobs(registry, runs, count: int, status_every: int = 3) -> None:
    for n in range(count):
        folder = bare_job(runs, f"20260101-{n // 60:02d}{n % 60:02d}00-job{n}-{n % 65536:04x}", f"job{n}")
        enqueue(registry, folder)
        if n % status_every == 0:
            update_job(registry, folder.name, status="failed", cause=f"cause {n}")


def test_job_list_is_paged_with_a_total_and_filters_by_status(client, sqlite_registry, runs):
    _bare_jobs(sqlite_registry, runs, 30)
    first = client.get("/api/jobs", params={"per_page": 7}).json()
    assert first["total"] == 30 and first["pages"] == 5 and len(first["jobs"]) == 7
    last = client.get("/api/jobs", params={"per_page": 7, "page": 5}).json()
    assert len(last["jobs"]) == 2
    ids = [j["id"] for page in range(1, 6) for j in client.get("/api/jobs", params={"per_page": 7, "page": page}).json()["jobs"]]
    assert len(set(ids)) == 30 and ids == sorted(ids, reverse=True)  # newest first, nothing twice
    failed = client.get("/api/jobs", params={"status": "failed"}).json()
    assert failed["total"] == 10 and {j["status"] for j in failed["jobs"]} == {"failed"}
    assert "config" not in first["jobs"][0]
    page = client.get("/", params={"status": "failed", "per_page": 4})
    assert page.status_code == 200 and "page 1 of 3" in page.text and "cause 27" in page.text


def test_the_page_and_its_json_twin_hold_the_same_jobs(client, sqlite_registry, runs):
    _bare_jobs(sqlite_registry, runs, 5)
    api = client.get("/api/jobs").json()
    page = client.get("/").text
    embedded = json.loads(page.split('<script type="application/json" id="page-data">')[1].split("</script>")[0])
    assert embedded == api


def test_user_text_is_escaped_on_the_pages(client, sqlite_registry, runs):
    folder = bare_job(runs, "20260101-000000-x-0001", name="x")
    enqueue(sqlite_registry, folder)
    update_job(sqlite_registry, folder.name, status="failed", cause='<script>alert("job")</script>',
               name='<img src=x onerror=alert(1)>')
    for path in ("/", f"/jobs/{folder.name}"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert" in text or "\\u003cscript\\u003e" in text


def test_finished_job_detail_has_progress_curves_models_and_log(client, finished_job):
    detail = client.get(f"/api/jobs/{finished_job['id']}").json()
    assert detail["job"]["status"] == "succeeded"
    assert detail["progress"]["step"] == detail["progress"]["total"] == 10
    assert detail["progress"]["epochs"] == 2 and detail["progress"]["avr_loss"] == 1.09
    assert len(detail["curves"]["loss"]) == 10 and detail["curves"]["loss"][0][0] == 1
    assert any(tag.startswith("lr/") for tag in detail["curves"]["lr"])  # from the run's TensorBoard files
    assert {m["ref"] for m in detail["models"]} == {"shape_lora:v1", "shape_lora:v2"}
    assert all(len(m["sha256"]) == 64 and m["download"].endswith("/download") for m in detail["models"])
    assert any(s["final"] for s in detail["saved"])
    assert detail["log_tail"] and "Resolved by kohya-wrap" in detail["job_toml"]
    assert detail["diagnosis"] is None and detail["actions"] == []
    page = client.get(f"/jobs/{finished_job['id']}").text
    assert "shape_lora:v2" in page and 'id="loss-chart"' in page


def test_unknown_job_is_404_as_json_and_as_a_page(client):
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope").json()["error"].startswith("No job 'nope'")
    page = client.get("/jobs/nope")
    assert page.status_code == 404 and "No job" in page.text


def test_sample_files_are_served_only_when_the_job_lists_them(client, finished_job):
    folder = job_dir(finished_job)
    sample = folder / "samples" / "a.png"
    sample.parent.mkdir(exist_ok=True)
    sample.write_bytes(b"\x89PNG fake")
    (folder / "secret.png").write_bytes(b"x")
    assert client.get(f"/jobs/{finished_job['id']}/files/samples/a.png").content == b"\x89PNG fake"
    for relative in ("secret.png", "job.toml", "../../../etc/passwd", "samples/../job.toml"):
        assert client.get(f"/jobs/{finished_job['id']}/files/{relative}").status_code == 404, relative
    assert "samples/a.png" in [s["path"] for s in client.get(f"/api/jobs/{finished_job['id']}").json()["samples"]]


def test_stop_cancels_a_queued_job(client, sqlite_registry, runs):
    folder = bare_job(runs, "20260101-000000-q-0001", "q")
    enqueue(sqlite_registry, folder)
    answer = client.post(f"/api/jobs/{folder.name}/stop")
    assert answer.status_code == 200 and answer.json()["job"]["status"] == "cancelled"
    again = client.post(f"/api/jobs/{folder.name}/stop")
    assert again.status_code == 400 and "nothing to stop" in again.json()["error"]


def test_retry_puts_a_failed_job_back_in_the_queue(client, sqlite_registry, queue_job):
    from tests.registry.conftest import run_worker

    row = queue_job("bad")
    run_worker(sqlite_registry, scenarios={"bad": "fail_missing_model"})
    failed = client.get(f"/api/jobs/{row['id']}").json()
    assert failed["job"]["status"] == "failed" and failed["diagnosis"]["kind"] == "missing_model"
    assert "retry" in failed["actions"]
    answer = client.post(f"/api/jobs/{row['id']}/retry").json()["job"]
    assert answer["status"] == "queued" and answer["cause"] == "retried by the user"
    assert (job_dir(row) / "attempts" / "1" / "events.jsonl").is_file()
    refused = client.post(f"/api/jobs/{row['id']}/retry")
    assert refused.status_code == 400 and "queued" in refused.json()["error"]


def test_mark_lost_and_failed_for_a_job_whose_process_is_gone(client, sqlite_registry, runs):
    folder = bare_job(runs, "20260101-000000-stuck-0001", "stuck")
    enqueue(sqlite_registry, folder)
    # a row another host left 'running' with a fresh heartbeat: nothing here can tell it is gone
    update_job(sqlite_registry, folder.name, status="running", host="other-host", pid=1, heartbeat_at=time.time())
    update_meta(folder, supervisor={"host": "other-host", "pid": 1})
    assert client.get(f"/api/jobs/{folder.name}").json()["job"]["status"] == "running"
    lost = client.post(f"/api/jobs/{folder.name}/mark-lost").json()["job"]
    assert lost["status"] == "lost" and lost["cause"].startswith("marked lost by the user")
    failed = client.post(f"/api/jobs/{folder.name}/mark-failed").json()["job"]
    assert failed["status"] == "failed" and "was lost" in failed["cause"]
    assert client.post(f"/api/jobs/{folder.name}/mark-failed").status_code == 400


def test_mark_is_refused_while_the_supervisor_is_alive_here(client, sqlite_registry, runs):
    import os

    from kohya_wrap.registry import liveness

    folder = bare_job(runs, "20260101-000000-alive-0001", "alive")
    enqueue(sqlite_registry, folder)
    update_job(sqlite_registry, folder.name, status="running", host=liveness.this_host(), pid=os.getpid(),
               pid_start=liveness.pid_start_token(os.getpid()))
    answer = client.post(f"/api/jobs/{folder.name}/mark-lost")
    assert answer.status_code == 400 and "alive" in answer.json()["error"]
    assert "stop it instead" in answer.json()["hint"]
    assert get_job(sqlite_registry, folder.name)["status"] == "running"


def test_embedded_worker_runs_a_job_and_stop_ends_it(sqlite_registry, queue_job, monkeypatch):
    monkeypatch.setenv("STANDIN_SECONDS", "2")
    monkeypatch.setenv("STANDIN_HOLD_AT_STEP", "3")  # the trainer waits at step 3 until it is stopped
    row = queue_job("held")
    with make_client(sqlite_registry, workers=1) as served:
        served.headers["X-CSRF-Token"] = csrf_of(served)
        wait_for(lambda: (served.get(f"/api/jobs/{row['id']}").json()["progress"]["step"] or 0) >= 2, 60,
                 "the embedded worker to reach step 2")
        status = served.get("/api/status").json()["workers"]
        assert status["alive"] == 1 and status["configured"] == 1
        stopped = served.post(f"/api/jobs/{row['id']}/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["job"]["status"] == "cancelled"
    events = [json.loads(line) for line in (Path(row["job_dir"]) / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "exited" and events[-1]["status"] == "cancelled"


def test_log_tail_shows_the_last_redraw_without_terminal_codes(tmp_path):
    from kohya_wrap.web.jobdata import log_tail

    (tmp_path / "train.log").write_bytes(b"loading\nsteps: 1/4\rsteps: 2/4\r\x1b[A 50%|##   | 2/4\x1b[A\nsaving\n")
    assert log_tail(tmp_path) == ["loading", " 50%|##   | 2/4", "saving"]
    assert log_tail(tmp_path / "missing") == []

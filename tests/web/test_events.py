"""The event stream: every line of events.jsonl from the start, then live; byte offsets as ids to resume."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("sse_starlette", reason="the dashboard needs the [web] extra")

import json
import threading
import time

from kohya_wrap.registry.jobs import update_job
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.web.stream import Tail, start_offset
from tests.registry.conftest import bare_job
from tests.web.conftest import job_dir, sse_messages


def _stream(client, job_id: str, **kwargs) -> list[dict]:
    with client.stream("GET", f"/api/jobs/{job_id}/events", **kwargs) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        return sse_messages(answer.iter_lines())


def test_a_finished_job_streams_every_line_then_ends(client, finished_job):
    raw = (job_dir(finished_job) / "events.jsonl").read_bytes()
    messages = _stream(client, finished_job["id"])
    lines = [m for m in messages if m.get("event") == "message"]
    assert [m["data"] for m in lines] == raw.decode().splitlines()
    # each id is the byte offset just after its line
    ends = [i + 1 for i, byte in enumerate(raw) if byte == ord("\n")]
    assert [int(m["id"]) for m in lines] == ends
    assert messages[-1]["event"] == "end" and json.loads(messages[-1]["data"]) == {"status": "succeeded"}


def test_last_event_id_resumes_exactly_after_that_line(client, finished_job):
    all_lines = [m for m in _stream(client, finished_job["id"]) if m.get("event") == "message"]
    cut = all_lines[9]["id"]
    resumed = [m for m in _stream(client, finished_job["id"], headers={"Last-Event-ID": cut})
               if m.get("event") == "message"]
    assert resumed == all_lines[10:]
    by_query = [m for m in _stream(client, finished_job["id"], params={"offset": cut}) if m.get("event") == "message"]
    assert by_query == all_lines[10:]


def test_lines_written_while_streaming_arrive_and_a_half_line_waits(client, sqlite_registry, runs):
    folder = bare_job(runs, "20260101-000000-live-0001", "live")
    enqueue(sqlite_registry, folder)
    update_job(sqlite_registry, folder.name, status="running")
    path = folder / "events.jsonl"
    path.write_text('{"type": "started", "t": 1.0}\n')

    def writer():
        time.sleep(0.5)
        with path.open("a") as handle:
            for step in range(1, 4):
                handle.write(json.dumps({"type": "step", "t": 2.0 + step, "step": step, "total": 3}) + "\n")
                handle.flush()
                time.sleep(0.2)
            handle.write('{"type": "exited", "t": 9.0, "sta')  # a line still being written
            handle.flush()
            time.sleep(0.5)
            handle.write('tus": "succeeded"}\n')
        update_job(sqlite_registry, folder.name, status="succeeded")

    thread = threading.Thread(target=writer)
    thread.start()
    messages = _stream(client, folder.name)
    thread.join()
    data = [json.loads(m["data"]) for m in messages if m.get("event") == "message"]
    assert [d["type"] for d in data] == ["started", "step", "step", "step", "exited"]
    assert data[-1]["status"] == "succeeded" and messages[-1]["event"] == "end"


def test_a_replaced_events_file_restarts_the_stream_from_zero(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "started", "t": 1}\n{"type": "step", "t": 2, "step": 1}\n')
    tail = Tail(path)
    reset, lines = tail.read()
    assert not reset and len(lines) == 2 and lines[-1][1] == path.stat().st_size
    replacement = tmp_path / "new.jsonl"
    replacement.write_text('{"type": "started", "t": 5}\n')
    replacement.replace(path)  # a requeued job's attempt moves aside and a new file starts
    reset, lines = tail.read()
    assert reset and lines == [('{"type": "started", "t": 5}', 28)]


def test_a_queued_job_without_events_waits_then_streams(client, sqlite_registry, runs):
    folder = bare_job(runs, "20260101-000000-wait-0001", "wait")
    enqueue(sqlite_registry, folder)

    def later():
        time.sleep(0.6)
        (folder / "events.jsonl").write_text('{"type": "started", "t": 1}\n')
        update_job(sqlite_registry, folder.name, status="failed")

    thread = threading.Thread(target=later)
    thread.start()
    messages = _stream(client, folder.name)
    thread.join()
    assert [m.get("event") for m in messages] == ["message", "end"]


def test_start_offset_reads_header_then_query():
    assert start_offset("120", "5") == 120
    assert start_offset(None, "5") == 5
    assert start_offset(None, None) == 0
    assert start_offset("junk", None) == 0 and start_offset("-4", None) == 0


def test_events_of_an_unknown_job_are_404(client):
    assert client.get("/api/jobs/nope/events").status_code == 404

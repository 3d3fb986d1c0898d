"""The cost guard on a real run: 36 USD/h with a 0.05 USD limit stops the trainer 5 s after launch,
or earlier when, with no history, its first steps project past the limit."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap.errors import EXIT_LIMIT
from kohya_wrap.job.folder import read_events
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.job.meta import read_meta
from kohya_wrap.registry.models import list_versions
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.artifacts.lora import inspect_lora
from tests.conftest import REPO
from tests.registry.conftest import STANDIN_OVERRIDES, run_worker


def _path(job: Path, event: dict) -> Path:
    path = Path(event["path"])
    return path if path.is_absolute() else job / path


def _one(events: list[dict], kind: str) -> dict:
    [event] = [e for e in events if e["type"] == kind]
    return event


def test_cost_limit_stops_the_run_within_a_second_and_keeps_the_checkpoint(registry, standin, monkeypatch):
    # The replay saves its epoch-1 checkpoint at 78% of its time (4.2 s) and would end at 5.3 s (later
    # under load, never earlier): the limit (0.05 USD at 36 USD/h = 5.0 s) falls between the two.
    monkeypatch.setenv("STANDIN_SECONDS", "5.3")
    job = standin("capped", "limits.max_cost_usd=0.05", "limits.gpu_hourly_usd=36")
    enqueue(registry, job)
    result = run_worker(registry)
    assert result.ran == [(job.name, "stopped")] and result.exit_code == EXIT_LIMIT

    events = read_events(job)
    reached = _one(events, "started")["t"] + 0.05 / (36 / 3600)
    limit, exited = _one(events, "limit"), _one(events, "exited")
    assert limit["cause"] == "cost_limit" and 0 <= limit["t"] - reached < 0.5
    assert exited["t"] - reached < 1.0, f"trainer stopped {exited['t'] - reached:.2f} s after the limit"
    assert exited["status"] == "stopped" and exited["stop_signals"] == ["SIGINT"]

    row = get_job(registry, job.name)
    assert (row["status"], row["cause"], row["hourly_usd"]) == ("stopped", "cost_limit", 36.0)
    assert 0.05 <= row["cost_usd"] < 0.05 + 1.0 * 36 / 3600

    saved = [_path(job, e) for e in events if e["type"] == "saved" and e["t"] < limit["t"]]
    loras = [p for p in saved if p.suffix == ".safetensors"]
    assert loras, "the replay should have saved a checkpoint before the limit"
    for state in (p for p in saved if p.name.endswith("-state")):
        assert (state / "train_state.json").is_file()
    last = loras[-1]
    info = inspect_lora(last)
    assert info.good and info.bytes > 0
    [version] = [v for v in list_versions(registry) if v["uri"].endswith(last.name)]
    assert version["sha256"] == info.sha256 and version["problem"] is None


def test_with_no_history_the_first_steps_decide(registry, standin, cli):
    # Queued through the CLI with no earlier job: no estimate, so the run measures itself. The
    # replay's step rate (the real run's ~100 s/it) projects far past 0.05 USD: stopped early.
    added = cli("queue", "add", "sdxl-style", "--dataset", REPO / "templates" / "example-dataset",
                "--model", standin.model, *STANDIN_OVERRIDES, "limits.max_cost_usd=0.05",
                "limits.gpu_hourly_usd=36", "--json")
    assert added.exit_code == 0, added.output
    [job] = json.loads(added.output)
    assert read_meta(Path(job["job_dir"]))["estimate"]["basis"].startswith("no history yet")
    result = run_worker(registry)
    assert result.ran == [(job["id"], "stopped")]
    events = read_events(Path(job["job_dir"]))
    limit = _one(events, "limit")
    assert limit["cause"] == "cost_limit" and "measured over the first 3 steps" in limit["message"]
    assert limit["t"] - _one(events, "started")["t"] < 5.0  # before the limit itself was reached
    assert get_job(registry, job["id"])["cause"] == "cost_limit"

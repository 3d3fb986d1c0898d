"""Process tests: the runner against a stand-in that replays the real captured sd-scripts bytes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kohya_wrap.launch.process import group_alive
from kohya_wrap.runner import run_job
from tests.conftest import FIXTURES, REPO
from tests.runner.conftest import STANDIN_OVERRIDES

SIMPLE = FIXTURES / "sdxl-cpu-run-simple"


def events_of(job_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]


def assert_no_orphans(job_dir: Path) -> None:
    started = next(event for event in events_of(job_dir) if event["type"] == "started")
    assert not group_alive(started["pgid"])


def test_successful_run_fills_the_job_folder(prepared_job):
    job_dir = prepared_job()
    seen = []
    outcome = run_job(job_dir, on_event=seen.append)
    assert outcome.status == "succeeded" and outcome.exit_code == 0
    for name in ("job.toml", "dataset.toml", "args.toml", "accelerate.yaml", "command.json", "train.log",
                 "events.jsonl", "summary.json", "report.html", "report.md"):
        assert (job_dir / name).is_file(), name
    raw = (job_dir / "train.log").read_bytes()
    replayed = [(SIMPLE / name).read_bytes().replace(b"/tmp/sdxl_runs2/simple-log-mode/output",
                                                     str(job_dir / "output").encode()) for name in ("stdout.log", "stderr.log")]
    assert len(raw) == sum(len(part) for part in replayed)  # every byte, as written
    events = events_of(job_dir)
    assert [event["type"] for event in events][0] == "started" and events[-1]["type"] == "exited"
    assert seen == events
    steps = [event["step"] for event in events if event["type"] == "step"]
    assert steps == list(range(1, 11))
    assert sum(event["type"] == "saved" and str(event["path"]).endswith(".safetensors") for event in events) == 2
    assert (job_dir / "output" / "shape_lora.safetensors").is_file()
    summary = json.loads((job_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded"
    assert_no_orphans(job_dir)


def test_exit_zero_with_no_data_is_a_failure(prepared_job, monkeypatch):
    monkeypatch.setenv("STANDIN_SCENARIO", "fail_bad_folder_name")
    job_dir = prepared_job()
    outcome = run_job(job_dir)
    assert outcome.exit_code == 0
    assert outcome.status == "failed" and outcome.cause == "no_data"
    assert outcome.hint
    assert_no_orphans(job_dir)


@pytest.mark.parametrize("scenario, cause", [("fail_missing_model", "missing_model"),
                                             ("fail_unknown_argument", "bad_arg"),
                                             ("fail_memory_limit_ulimit_v20GB", "oom")])
def test_real_failures_get_their_cause(prepared_job, monkeypatch, scenario, cause):
    monkeypatch.setenv("STANDIN_SCENARIO", scenario)
    outcome = run_job(prepared_job())
    assert (outcome.status, outcome.cause, outcome.exit_code) == ("failed", cause, 1)


def test_nan_in_saved_lora_is_never_a_good_output(prepared_job, monkeypatch):
    monkeypatch.setenv("STANDIN_NAN", "1")
    outcome = run_job(prepared_job())
    assert outcome.status == "failed" and outcome.cause == "nonfinite_output"


def _start_wrapper(job_args: list[str], env: dict) -> subprocess.Popen:
    from tests.fake_model import write_fake_sdxl

    model = write_fake_sdxl(Path(env["KOHYA_WRAP_HOME"]) / "base.safetensors")
    return subprocess.Popen([sys.executable, "-m", "kohya_wrap", "train", "sdxl-style", "--example",
                             "--model", str(model), *STANDIN_OVERRIDES, *job_args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_for_step(home: Path, timeout: float = 90.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for events in (home / "runs").glob("*/events.jsonl"):
            if '"type": "step"' in events.read_text():
                return events.parent
        time.sleep(0.05)
    raise AssertionError("the stand-in never reached a step")


@pytest.mark.parametrize("ignore, signals, exit_code", [
    ("", ["SIGINT"], 130),
    ("INT", ["SIGINT", "SIGTERM"], 130),
    ("INT,TERM", ["SIGINT", "SIGTERM", "SIGKILL"], 130),
])
def test_ctrl_c_stops_the_group_with_escalation(standin_env, ignore, signals, exit_code):
    env = {**os.environ, "STANDIN_SECONDS": "2", "STANDIN_HOLD_AT_STEP": "2", "STANDIN_IGNORE": ignore}
    wrapper = _start_wrapper(["launch.grace_seconds=0.5"], env)
    job_dir = _wait_for_step(Path(standin_env["KOHYA_WRAP_HOME"]))
    wrapper.send_signal(signal.SIGINT)
    output, _ = wrapper.communicate(timeout=30)
    assert wrapper.returncode == exit_code, output.decode()
    exited = events_of(job_dir)[-1]
    assert exited["type"] == "exited" and exited["status"] == "cancelled" and exited["cause"] == "interrupted"
    assert exited["stop_signals"] == signals
    if not ignore:
        assert b"KeyboardInterrupt" in (job_dir / "train.log").read_bytes()  # the trainer's own reaction
    assert_no_orphans(job_dir)


def test_sigterm_to_the_wrapper_never_orphans_the_trainer(standin_env):
    env = {**os.environ, "STANDIN_SECONDS": "2", "STANDIN_HOLD_AT_STEP": "2"}
    wrapper = _start_wrapper(["launch.grace_seconds=0.5"], env)
    job_dir = _wait_for_step(Path(standin_env["KOHYA_WRAP_HOME"]))
    wrapper.send_signal(signal.SIGTERM)
    wrapper.communicate(timeout=30)
    assert wrapper.returncode == 130
    exited = events_of(job_dir)[-1]
    assert exited["cause"] == "terminated" and exited["status"] == "cancelled"
    assert_no_orphans(job_dir)


def test_guard_stops_the_run_and_records_a_limit(prepared_job, monkeypatch):
    from kohya_wrap.runner import StopRequest

    monkeypatch.setenv("STANDIN_SECONDS", "2")
    monkeypatch.setenv("STANDIN_HOLD_AT_STEP", "5")  # a step event comes when the next step starts

    class StopAtStep3:
        def check(self, event, now):
            return StopRequest("time_limit", "test limit") if event.get("step") == 3 else None

    job_dir = prepared_job("launch.grace_seconds=5")
    outcome = run_job(job_dir, guards=[StopAtStep3()])
    assert outcome.status == "stopped" and outcome.cause == "time_limit"
    events = events_of(job_dir)
    limit = next(event for event in events if event["type"] == "limit")
    assert events[-1]["t"] - limit["t"] < 2.0  # the trainer reacted to SIGINT at once
    assert events[-1]["stop_signals"] == ["SIGINT"]
    assert max(event["step"] for event in events if event["type"] == "step") < 10
    assert_no_orphans(job_dir)


def test_resume_continues_the_global_step_count(prepared_job, monkeypatch, cli):
    job_dir = prepared_job()
    assert run_job(job_dir).status == "succeeded"
    monkeypatch.setenv("STANDIN_SCENARIO", "resume")
    result = cli("train", "--resume", job_dir.name)
    assert "Resuming" in result.output and "shape_lora-state (step 10" in result.output
    assert "state loaded" in result.output
    events = events_of(job_dir)
    second = events[[i for i, event in enumerate(events) if event["type"] == "started"][1]:]
    steps = [event["step"] for event in second if event["type"] == "step"]
    assert steps == [11, 12, 13, 14, 15]
    assert second[-1]["status"] == "succeeded"
    assert "--resume" in second[0]["argv"]

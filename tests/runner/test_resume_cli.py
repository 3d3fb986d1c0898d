"""`train --resume JOB [overrides] [--dry-run]` against the stand-in trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kohya_wrap.job.folder import read_args
from kohya_wrap.runner import run_job


def _started(job_dir: Path) -> int:
    return sum(json.loads(line)["type"] == "started" for line in (job_dir / "events.jsonl").read_text().splitlines())


@pytest.fixture
def finished_job(prepared_job):
    job_dir = prepared_job()
    assert run_job(job_dir).status == "succeeded"
    return job_dir


def test_resume_dry_run_launches_nothing_and_changes_nothing(finished_job, cli):
    before = {name: (finished_job / name).read_bytes() for name in ("job.toml", "args.toml", "command.json")}
    result = cli("train", "--resume", finished_job.name, "max_train_steps=40", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Resuming" in result.output and "(step 10" in result.output
    assert "change: max_train_steps: 3000 -> 40" in result.output
    command = next(line for line in result.output.splitlines() if "sdxl_train_network.py" in line)
    assert "--resume" in command and "shape_lora-state" in command
    assert "Stopping here: --dry-run" in result.output
    assert _started(finished_job) == 1
    assert before == {name: (finished_job / name).read_bytes() for name in before}


def test_resume_takes_run_length_and_cadence_overrides(finished_job, cli, monkeypatch):
    monkeypatch.setenv("STANDIN_SCENARIO", "resume")
    result = cli("train", "--resume", finished_job.name, "max_train_steps=40", "saving.save_every_n_steps=5",
                 "sample.sample_every_n_steps=20")
    assert "change: max_train_steps: 3000 -> 40" in result.output, result.output
    assert "change: save_every_n_steps: 500 -> 5" in result.output
    args = read_args(finished_job)
    assert args["max_train_steps"] == 40 and args["save_every_n_steps"] == 5 and args["sample_every_n_steps"] == 20
    job_toml = (finished_job / "job.toml").read_text()
    assert job_toml.startswith("# Resolved by kohya-wrap from preset 'sdxl-style'")
    assert "training.max_train_steps <- override 'training.max_train_steps=40' on resume" in job_toml
    assert "dataset.train_dir <- --dataset" in job_toml  # the first run's sources are kept
    assert (finished_job / "sample_prompts.txt").is_file()
    assert _started(finished_job) == 2
    started = [json.loads(line) for line in (finished_job / "events.jsonl").read_text().splitlines()
               if json.loads(line)["type"] == "started"][1]
    assert "--resume" in started["argv"]


@pytest.mark.parametrize("override", ["network.network_dim=8", "optimizer.learning_rate=1e-3",
                                      "dataset.resolution=512", "~network.network_alpha"])
def test_resume_refuses_what_the_state_was_trained_with(finished_job, cli, override):
    result = cli("train", "--resume", finished_job.name, override, "--dry-run")
    assert result.exit_code == 2, result.output
    key = override.lstrip("~").split("=")[0]
    assert f"Cannot change {key} on a resume" in result.output
    assert "max_train_steps" in result.output and f"train {finished_job}/job.toml" in result.output
    assert "Traceback" not in result.output


def test_resume_with_nothing_left_to_train_fails_before_launch(finished_job, cli):
    result = cli("train", "--resume", finished_job.name, "max_train_steps=10")
    assert result.exit_code == 2
    assert "Nothing left to train" in result.output and "max_train_steps=15" in result.output
    assert _started(finished_job) == 1

"""`kohya-wrap train` end to end through the CLI: dry run, registry record, cost limit, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.runner.conftest import STANDIN_OVERRIDES


def test_example_without_backend_is_a_dry_run_that_says_why(cli, isolated_home):
    result = cli("train", "sdxl-style", "--example")
    assert result.exit_code == 0
    assert "Job folder:" in result.output and "this run = 3000 steps" in result.output
    assert "sdxl_train_network.py" in result.output and "--console_log_simple" in result.output
    assert "Stopping here: no sd-scripts backend is configured" in result.output
    assert "no base model was given" in result.output
    job_dir = Path(result.output.split("Job folder: ")[1].splitlines()[0])
    assert {p.name for p in job_dir.iterdir()} >= {"job.toml", "dataset.toml", "args.toml", "accelerate.yaml"}
    assert not (job_dir / "command.json").exists()


def test_train_needs_a_dataset(cli):
    result = cli("train", "sdxl-style")
    assert result.exit_code == 2 and "--dataset" in result.output


def test_dataset_errors_stop_before_launch(cli, tmp_path, model_file):
    bad = tmp_path / "data" / "shape"  # no N_ prefix: sd-scripts would find no data and exit 0
    bad.mkdir(parents=True)
    (bad / "a.png").write_bytes((REPO / "templates/example-dataset/3_shape/00_red_circle.png").read_bytes())
    result = cli("train", "sdxl-style", "--dataset", tmp_path / "data", "--model", model_file, "--dry-run")
    assert result.exit_code == 2
    assert "The dataset has" in result.output and "Traceback" not in result.output


def test_foreground_run_is_recorded_and_stopped_by_the_cost_limit(standin_env, model_file):
    env = {**os.environ, "STANDIN_SECONDS": "30"}
    done = subprocess.run([sys.executable, "-m", "kohya_wrap", "train", "sdxl-style", "--example", "--model",
                           str(model_file), *STANDIN_OVERRIDES, "limits.max_cost_usd=0.02",
                           "limits.gpu_hourly_usd=36", "launch.grace_seconds=2", "--over-limit"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cost_limit" in done.stdout
    listed = subprocess.run([sys.executable, "-m", "kohya_wrap", "jobs", "ls", "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["status"] == "stopped" and rows[0]["cause"] == "cost_limit"
    assert 0.02 <= rows[0]["cost_usd"] < 0.03

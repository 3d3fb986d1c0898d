"""Papercuts a new user hits: help of caption verbs, one clear resolution error, jobs ls --status, worker exits,
dry-run folders, file modes, the resume hint, one opencv package."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.runner.conftest import STANDIN, STANDIN_OVERRIDES

EXAMPLE = REPO / "templates" / "example-dataset"


def test_caption_verb_help_works_before_the_folder(cli):
    for verb in ("add-trigger", "prefix", "auto", "tags"):
        result = cli("data", "captions", verb, "-h")
        assert result.exit_code == 0, result.output
        assert f"data captions DIRECTORY {verb} [OPTIONS]" in result.output and "Example:" in result.output


def test_caption_verb_without_a_folder_says_where_the_folder_goes(cli):
    result = cli("data", "captions", "add-trigger", "ohwx")
    assert result.exit_code == 2
    assert "give the folder first, e.g. kohya-wrap data captions ./data add-trigger ohwx" in result.output


def test_resolution_as_w_comma_h_is_one_clear_error(cli):
    result = cli("config", "validate", "sdxl-style", "dataset.resolution=768,1024")
    assert result.exit_code == 2
    assert "Config is not valid, 1 problem:" in result.output
    assert "dataset.resolution=[768,1024]" in result.output
    assert cli("config", "validate", "sdxl-style", "dataset.resolution=[768,1024]").exit_code == 0


def test_jobs_ls_with_an_unknown_status_lists_the_statuses(cli):
    result = cli("jobs", "ls", "--status", "bogus")
    assert result.exit_code == 2 and "No jobs." not in result.output
    for status in ("queued", "running", "succeeded", "failed", "cancelled", "stopped", "lost"):
        assert status in result.output
    assert cli("jobs", "ls", "--status", "failed").output.strip() == "No jobs."


def test_jobs_ls_statuses_are_the_registrys():
    from kohya_wrap.cli.jobs import STATUSES
    from kohya_wrap.registry import schema

    assert set(STATUSES) == {schema.QUEUED, schema.PREPARED, schema.RUNNING, *schema.TERMINAL}


def test_worker_without_a_backend_fails_at_once(cli, monkeypatch):
    monkeypatch.delenv("KOHYA_WRAP_SD_SCRIPTS", raising=False)
    started = time.monotonic()
    result = cli("worker", "--once")
    assert result.exit_code == 2 and "No sd-scripts backend is configured" in result.output
    assert time.monotonic() - started < 10


def test_worker_stopped_with_ctrl_c_exits_130(isolated_home):
    env = {**os.environ, "KOHYA_WRAP_SD_SCRIPTS": str(STANDIN), "KOHYA_WRAP_PYTHON": sys.executable,
           "KOHYA_WRAP_HOME": str(isolated_home)}
    worker = subprocess.Popen([sys.executable, "-m", "kohya_wrap", "worker", "--poll", "0.2"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = worker.stdout.readline()
    assert b"waiting for jobs" in line, line
    worker.send_signal(signal.SIGINT)
    output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 130, output.decode()
    assert b"stopped by SIGINT" in output


def test_worker_stopped_with_sigterm_exits_cleanly(isolated_home):
    env = {**os.environ, "KOHYA_WRAP_SD_SCRIPTS": str(STANDIN), "KOHYA_WRAP_PYTHON": sys.executable,
           "KOHYA_WRAP_HOME": str(isolated_home)}
    worker = subprocess.Popen([sys.executable, "-m", "kohya_wrap", "worker", "--poll", "0.2"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert b"waiting for jobs" in worker.stdout.readline()
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)
    assert worker.returncode == 0


def _job_dir(output: str) -> Path:
    return Path(output.split("Job folder: ")[1].splitlines()[0])


def test_dry_run_folders_are_marked_and_do_not_pile_up(cli, isolated_home):
    first = _job_dir(cli("train", "sdxl-style", "--example").output)
    assert json.loads((first / "registry.json").read_text())["dry_run"]["reason"].startswith("no sd-scripts backend")
    second = cli("train", "sdxl-style", "--example")
    assert "Removed 1 earlier dry-run folder" in second.output and not first.exists()
    launched = _job_dir(second.output)
    (launched / "train.log").write_text("a run happened here\n")  # a folder something ran in is never removed
    third = cli("train", "sdxl-style", "--example")
    assert "Removed" not in third.output
    latest = _job_dir(third.output)
    other_name = _job_dir(cli("train", "sdxl-lowvram", "--example").output)
    assert sorted(p.name for p in (isolated_home / "runs").iterdir()) == sorted(
        [launched.name, latest.name, other_name.name])


def test_captions_and_reports_keep_the_umask_mode(cli, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "data"
        assert cli("data", "prepare", EXAMPLE / "3_shape", "--out", out, "--token", "ohwx").exit_code == 0
        caption = next((out / "img").glob("*/00_red_circle.txt"))
        before = stat.S_IMODE(caption.stat().st_mode)
        caption.chmod(0o640)  # an existing file keeps its own mode
        assert cli("data", "captions", out, "add-trigger", "shp").exit_code == 0
        assert stat.S_IMODE(caption.stat().st_mode) == 0o640 and caption.read_text().startswith("shp, ")
        assert before == 0o644 == stat.S_IMODE((out / "kohya-wrap-prepare.json").stat().st_mode)
        log = REPO / "tests" / "fixtures" / "sdxl-cpu-run" / "stdout.log"
        report = cli("report", "--from-log", log, "--out", tmp_path / "report")
        assert report.exit_code == 0, report.output
        for name in ("report.html", "report.md", "summary.json"):
            assert stat.S_IMODE((tmp_path / "report" / name).stat().st_mode) == 0o644, name
    finally:
        os.umask(old)


def test_interrupt_hint_names_the_job(standin_env, model_file, cli):
    env = {**os.environ, "STANDIN_SECONDS": "2", "STANDIN_HOLD_AT_STEP": "2"}
    wrapper = subprocess.Popen([sys.executable, "-m", "kohya_wrap", "train", "sdxl-style", "--example", "--model",
                                str(model_file), *STANDIN_OVERRIDES, "launch.grace_seconds=0.5"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    home = Path(standin_env["KOHYA_WRAP_HOME"])
    deadline = time.monotonic() + 90
    while not any('"type": "step"' in p.read_text() for p in (home / "runs").glob("*/events.jsonl")):
        assert time.monotonic() < deadline, "the stand-in never reached a step"
        time.sleep(0.05)
    wrapper.send_signal(signal.SIGINT)
    output = wrapper.communicate(timeout=30)[0].decode()
    job_id = next(p.parent.name for p in (home / "runs").glob("*/events.jsonl"))
    assert f"kohya-wrap train --resume {job_id}" in output and "--resume JOB" not in output, output
    shown = json.loads(cli("jobs", "show", job_id, "--json").output)
    assert "--resume JOB" not in json.dumps(shown)
    for name in ("summary.json", "events.jsonl", "report.html", "report.md"):  # one substitution, every face
        text = (home / "runs" / job_id / name).read_text()
        assert "--resume JOB" not in text and f"--resume {job_id}" in text, name


def test_the_final_message_prints_the_loras_absolute_path(standin_env, model_file, cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = cli("train", "sdxl-style", "--example", "--model", model_file, *STANDIN_OVERRIDES,
                 "--runs", "relative-runs")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("LoRA: "))
    path = Path(line.split("LoRA: ", 1)[1])
    assert path.is_absolute() and path.is_file() and path.name == "shape_lora.safetensors"
    assert "file://" not in line and path == (tmp_path / "relative-runs").resolve() / _job_dir(result.output).name \
        / "output" / "shape_lora.safetensors"


@pytest.mark.backend
def test_backend_install_plan_names_opencv_headless_only(cli):
    root, python = os.environ.get("KOHYA_WRAP_SD_SCRIPTS"), os.environ.get("KOHYA_WRAP_PYTHON")
    if not root or not python:
        pytest.skip("needs KOHYA_WRAP_SD_SCRIPTS and KOHYA_WRAP_PYTHON (the checkout backend install made)")
    result = cli("backend", "install", "--dry-run", "--dir", root, "--python", python, "--json")
    assert result.exit_code == 0, result.output
    opencv = [r for r in json.loads(result.output)["requirements"] if r.startswith("opencv")]
    assert opencv and all(r.startswith("opencv-python-headless") for r in opencv)


def test_force_means_overwrite_everywhere_and_over_limit_means_start_anyway(cli):
    from kohya_wrap.cli import cli as group

    meanings = {}
    for path in (("presets", "cp"), ("import", "preset"), ("train",), ("queue", "add")):
        command = group
        for part in path:
            command = command.get_command(None, part) if hasattr(command, "get_command") else None
        names = {opt for param in command.params for opt in getattr(param, "opts", [])}
        meanings[" ".join(path)] = ("--force" in names, "--over-limit" in names)
    assert meanings == {"presets cp": (True, False), "import preset": (True, False),
                        "train": (False, True), "queue add": (False, True)}

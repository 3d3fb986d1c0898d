"""The jobs, models, queue and registry commands, end to end on a stand-in run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kohya_wrap import paths
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.registry.migrate import MIGRATIONS
from kohya_wrap.job.meta import read_meta
from kohya_wrap.registry.queue import enqueue
from tests.conftest import REPO
from tests.registry.conftest import STANDIN_OVERRIDES, run_worker


@pytest.fixture
def finished(registry, standin):
    job = standin("shape")
    enqueue(registry, job)
    run_worker(registry)
    return job


def _add(cli, standin, *args):
    return cli("queue", "add", "sdxl-style", "--dataset", REPO / "templates" / "example-dataset",
               "--model", standin.model, *STANDIN_OVERRIDES, *args)


def test_jobs_ls_and_show(cli, finished):
    listed = cli("jobs", "ls")
    assert listed.exit_code == 0 and finished.name in listed.output and "succeeded" in listed.output
    [row] = json.loads(cli("jobs", "ls", "--json").output)
    assert row["id"] == finished.name and "config" not in row and row["step"] == 10
    shown = json.loads(cli("jobs", "show", "shape", "--json").output)
    assert shown["config"]["meta"]["name"] == "sdxl-style" and len(shown["models"]) == 2
    text = cli("jobs", "show", finished.name[:20]).output
    assert "succeeded" in text and "shape_lora:v2" in text
    assert cli("jobs", "ls", "--status", "failed").output.strip() == "No jobs."


def test_unknown_job_is_a_clean_error(cli, registry):
    result = cli("jobs", "show", "nosuchjob")
    assert result.exit_code == 2 and "No job 'nosuchjob'" in result.output and "Traceback" not in result.output


def test_jobs_logs_prints_the_raw_bytes_and_the_events(cli, finished):
    assert cli("jobs", "logs", finished.name).stdout_bytes == (finished / "train.log").read_bytes()
    assert cli("jobs", "logs", finished.name, "--events").output == (finished / "events.jsonl").read_text()
    assert cli("jobs", "logs", finished.name, "-f").stdout_bytes == (finished / "train.log").read_bytes()


def test_jobs_rm(cli, finished, registry):
    kept = cli("jobs", "rm", finished.name, "--keep-files", "--yes", "--json")
    assert json.loads(kept.output) == {"removed": finished.name, "files_deleted": False} and finished.is_dir()
    assert cli("jobs", "ls", "--json").output.strip() == "[]"
    cli("registry", "rebuild")
    assert cli("jobs", "rm", finished.name, "--yes").exit_code == 0 and not finished.exists()


def test_queue_add_sweep_ls_rm_and_stop(cli, standin, registry):
    added = _add(cli, standin, "--name", "sw", "--sweep", "network.network_dim=4,8", "--json")
    assert added.exit_code == 0, added.output
    jobs = json.loads(added.output)
    assert [j["status"] for j in jobs] == ["queued", "queued"]
    assert [j["name"] for j in jobs] == ["sw-network_dim4", "sw-network_dim8"]
    assert [j["config"]["network"]["network_dim"] for j in map(lambda j: get_job(registry, j["id"]), jobs)] == [4, 8]
    assert [j["id"] for j in json.loads(cli("queue", "ls", "--json").output)] == [j["id"] for j in jobs]
    assert "removed from the queue" in cli("queue", "rm", jobs[0]["id"]).output
    assert "cancelled" in cli("jobs", "stop", jobs[1]["id"]).output
    assert cli("queue", "ls").output.strip() == "The queue is empty."
    assert cli("queue", "rm", jobs[1]["id"]).exit_code == 2


def test_queue_add_refuses_over_the_estimate_unless_forced(cli, standin, finished):
    # The finished stand-in job is the history: its mean s/it on this machine prices the 3000 steps.
    before = sorted(paths.runs_dir().iterdir())
    limits = ["limits.max_cost_usd=0.01", "limits.gpu_hourly_usd=36"]
    refused = _add(cli, standin, *limits)
    assert refused.exit_code == 3 and "Refusing to start: estimated cost" in refused.output
    assert "--over-limit" in refused.output and sorted(paths.runs_dir().iterdir()) == before
    forced = _add(cli, standin, *limits, "--over-limit", "--json")
    assert forced.exit_code == 0
    [job] = json.loads(forced.output)
    estimate = read_meta(paths.runs_dir() / job["id"])["estimate"]
    assert estimate["cost_usd"] > 0.01 and "same settings" in estimate["basis"]
    assert estimate["warnings"][0].startswith("starting despite estimated cost")


def test_models_commands(cli, finished):
    listed = json.loads(cli("models", "ls", "--json").output)
    assert [(v["model_name"], v["version"]) for v in listed] == [("shape_lora", 1), ("shape_lora", 2)]
    assert "shape_lora:v2" in cli("models", "ls", "shape_lora").output
    assert "sha256" in cli("models", "show", "shape_lora:v1").output
    tagged = cli("models", "tag", "shape_lora:v1", "best", "--note", "keeper")
    assert "tags: best" in tagged.output
    assert json.loads(cli("models", "show", "shape_lora:v1", "--json").output)["notes"] == "keeper"
    assert [v["version"] for v in json.loads(cli("models", "ls", "--tag", "best", "--json").output)] == [1]
    assert cli("models", "tag", "shape_lora:v1").exit_code == 2


def test_registry_info_hides_the_password(cli, monkeypatch, tmp_path):
    from kohya_wrap.registry.db import redact

    assert redact("postgresql+psycopg://kw:s3cret@db.example/kw") == "postgresql+psycopg://kw:***@db.example/kw"


def test_registry_commands(cli, finished, db_url):
    info = json.loads(cli("registry", "info", "--json").output)
    assert info["schema_version"] == MIGRATIONS[-1].version and info["rows"]["training_jobs"] == 1
    assert info["rows"]["model_versions"] == 2 and info["jobs_by_status"] == {"succeeded": 1}
    assert json.loads(cli("registry", "migrate", "--json").output) == {"applied": [], "schema_version": MIGRATIONS[-1].version}
    rebuilt = json.loads(cli("registry", "rebuild", "--json").output)
    assert (rebuilt["jobs"], rebuilt["versions"], rebuilt["datasets"]) == (1, 2, 1)


def test_queue_add_with_a_relative_runs_folder_records_where_the_job_really_is(cli, standin, registry, tmp_path,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    added = _add(cli, standin, "--runs", "my-runs", "--json")
    assert added.exit_code == 0, added.output
    [row] = json.loads(cli("queue", "ls", "--json").output)
    assert Path(row["job_dir"]).is_absolute() and Path(row["job_dir"]).parent == tmp_path / "my-runs"
    monkeypatch.chdir("/")  # a worker started anywhere finds the folder
    run_worker(registry)
    assert json.loads(cli("jobs", "show", row["id"], "--json").output)["status"] == "succeeded"

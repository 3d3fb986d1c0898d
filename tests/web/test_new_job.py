"""New job: presets, validation with every problem at once (the CLI's messages), preview, queue and sweeps."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("sse_starlette", reason="the dashboard needs the [web] extra")

from kohya_wrap import paths
from kohya_wrap.config.resolve import resolve
from kohya_wrap.errors import ConfigError
from tests.web.conftest import EXAMPLE, STANDIN_OVERRIDES, csrf_of

BAD = ["network.network_dimm=8", "dataset.batch_size=0"]


def _job(standin, **extra) -> dict:
    return {"preset": "sdxl-style", "overrides": STANDIN_OVERRIDES, "dataset": str(EXAMPLE),
            "model": str(standin.model), **extra}


def test_presets_list_and_one_preset_with_its_comments(client):
    names = {p["file"] for p in client.get("/api/presets").json()}
    assert {"sdxl-style", "sdxl-lowvram", "sdxl-h100"} <= names
    style = client.get("/api/presets/sdxl-style").json()
    assert style["text"].lstrip().startswith("#") and style["values"]["network.network_dim"] == 32
    page = client.get("/new", params={"preset": "sdxl-style"}).text
    assert 'id="preset-text"' in page and "network_dim = 32" in page


def test_only_shipped_presets_are_shown_or_used(client, tmp_path):
    secret = tmp_path / "secret.toml"
    secret.write_text("[meta]\nname = 'x'\n")
    assert client.get(f"/api/presets/{secret}").status_code == 404 or \
        client.get(f"/api/presets/{secret}").status_code == 400
    answer = client.post("/api/jobs/validate", json={"preset": str(secret)})
    assert answer.status_code == 400 and "shipped presets" in answer.json()["error"]


def test_validation_shows_every_problem_with_the_cli_wording(client):
    answer = client.post("/api/jobs/validate", json={"preset": "sdxl-style", "overrides": BAD})
    assert answer.status_code == 422
    body = answer.json()
    try:
        resolve("sdxl-style", BAD)
    except ConfigError as error:
        cli_lines = [issue.line() for issue in error.issues]
    assert [issue["line"] for issue in body["issues"]] == cli_lines
    assert {issue["key"] for issue in body["issues"]} == {"network.network_dimm", "dataset.batch_size"}
    assert body["error"].startswith(f"Config is not valid, {len(cli_lines)} problems:")
    misspelled = next(issue for issue in body["issues"] if issue["key"] == "network.network_dimm")
    assert misspelled["suggestion"] == "network_dim" and misspelled["source"] == "override 'network.network_dimm=8'"


def test_validation_counts_the_jobs_of_a_sweep(client):
    answer = client.post("/api/jobs/validate", json={"preset": "sdxl-style",
                                                     "sweeps": ["network.network_dim=4,8", "optimizer.learning_rate=1e-4,2e-4"]})
    assert answer.status_code == 200 and answer.json()["jobs"] == 4
    bad = client.post("/api/jobs/validate", json={"preset": "sdxl-style", "sweeps": ["network.network_dim"]})
    assert bad.status_code == 400 and "Bad --sweep" in bad.json()["error"]


def test_preview_gives_steps_and_estimate_and_leaves_nothing(client, standin):
    answer = client.post("/api/jobs/preview", json=_job(standin))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    steps = client.get("/api/presets/sdxl-style").json()["values"]["training.max_train_steps"]
    assert body["steps"]["total_steps"] == steps and f"this run = {steps} steps" in body["summary"]
    assert body["estimate"]["seconds"] is None and "no finished job" in body["estimate"]["basis"]
    assert not list((paths.cache_dir() / "web-preview").glob("*"))
    assert client.get("/api/jobs").json()["total"] == 0


def test_queue_one_job_and_a_sweep(client, standin):
    one = client.post("/api/jobs", json=_job(standin, name="single"))
    assert one.status_code == 201, one.text
    [job] = one.json()["jobs"]
    assert job["status"] == "queued" and job["name"] == "single"
    sweep = client.post("/api/jobs", json=_job(standin, name="dims", sweeps=["network.network_dim=4,8,16"]))
    assert sweep.status_code == 201
    assert sorted(j["name"] for j in sweep.json()["jobs"]) == ["dims-network_dim16", "dims-network_dim4",
                                                              "dims-network_dim8"]
    assert client.get("/api/jobs", params={"status": "queued"}).json()["total"] == 4


def test_queue_from_a_form_with_one_override_per_line(client, standin):
    client.headers.pop("X-CSRF-Token")
    form = {"preset": "sdxl-style", "overrides": "\n".join(STANDIN_OVERRIDES + ["network.network_dim=8"]),
            "dataset": str(EXAMPLE), "model": str(standin.model), "csrf_token": csrf_of(client, "/new")}
    answer = client.post("/api/jobs", data=form)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["jobs"][0]["id"]
    assert client.get(f"/api/jobs/{job_id}").json()["config"]["network"]["network_dim"] == 8


def test_queue_refuses_a_missing_dataset_or_model_and_a_broken_dataset(client, standin, tmp_path):
    missing = client.post("/api/jobs", json={"preset": "sdxl-style"})
    assert missing.status_code == 400 and "needs a dataset and a base model" in missing.json()["error"]
    unknown = client.post("/api/jobs", json=_job(standin, dataset="no-such-upload"))
    assert unknown.status_code == 404 and "No dataset" in unknown.json()["error"]
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = client.post("/api/jobs", json=_job(standin, dataset=str(empty)))
    assert broken.status_code in (400, 422) and broken.json()["error"]
    assert client.get("/api/jobs").json()["total"] == 0

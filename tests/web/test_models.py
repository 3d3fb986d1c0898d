"""Models: the list and one version (metadata, trigger words, job), download of registry-known files only."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("sse_starlette", reason="the dashboard needs the [web] extra")

import hashlib

from kohya_wrap.registry.models import file_path, get_version


def test_models_list_page_and_twin(client, finished_job):
    api = client.get("/api/models").json()
    assert [m["ref"] for m in api["models"]] == ["shape_lora:v1", "shape_lora:v2"]
    assert all(m["job_id"] == finished_job["id"] for m in api["models"])
    page = client.get("/models").text
    assert "shape_lora:v2" in page and "/api/models/shape_lora%3Av2/download" in page
    assert client.get("/api/models", params={"tag": "best"}).json()["models"] == []


def test_one_version_shows_its_metadata_and_trigger_words(client, finished_job):
    detail = client.get("/api/models/shape_lora:v2").json()
    assert detail["model"]["sha256"] and detail["job"]["id"] == finished_job["id"]
    assert detail["trigger_words"] == ["shape"]
    assert detail["metadata"]["ss_output_name"] == "shape_lora"
    assert all(key.startswith(("ss_", "modelspec.", "kohya_wrap")) for key in detail["metadata"])
    page = client.get("/models/shape_lora:v2").text
    assert detail["model"]["sha256"] in page and "ss_network_dim" in page


def test_download_is_the_registered_file_byte_for_byte(client, sqlite_registry, finished_job):
    answer = client.get("/api/models/shape_lora:v2/download")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="shape_lora.safetensors"'
    version = get_version(sqlite_registry, "shape_lora:v2")
    assert hashlib.sha256(answer.content).hexdigest() == version["sha256"]
    assert answer.content == file_path(version["uri"]).read_bytes()


def test_only_registered_versions_can_be_downloaded(client, finished_job):
    for ref in ("nope:v1", "shape_lora:v9", "..%2F..%2Fjob.toml", "%2Fetc%2Fpasswd"):
        assert client.get(f"/api/models/{ref}/download").status_code == 404, ref
    assert client.get("/api/models/nope").status_code == 404


def test_a_version_whose_file_is_gone_says_so(client, sqlite_registry, finished_job):
    file_path(get_version(sqlite_registry, "shape_lora:v1")["uri"]).unlink()
    answer = client.get("/api/models/shape_lora:v1/download")
    assert answer.status_code == 404 and "is gone" in answer.json()["error"]
    assert "not on this machine" in client.get("/api/models/shape_lora:v1").json()["metadata_problem"]

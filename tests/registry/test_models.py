"""Model versions: numbering per name, references, tags kept in the job folder, bad files flagged."""

from __future__ import annotations

import pytest

from kohya_wrap.job.meta import read_meta
from kohya_wrap.registry.models import (
    ModelNotFound,
    file_name,
    get_version,
    insert_versions,
    list_versions,
    parse_ref,
    tag_version,
)
from kohya_wrap.registry.queue import enqueue
from tests.registry.conftest import bare_job, run_worker


def _row(name: str, uri: str, **values) -> dict:
    return {"model_name": name, "version": None, "job_id": None, "uri": uri, "sha256": "ab" * 32, "bytes": 1,
            "step": None, "epoch": None, "rank": 4, "alpha": 4.0, "base_model_hash": None, "problem": None,
            "created_at": 1.0, "tags": [], "notes": None, **values}


def test_versions_count_per_name_and_keep_recorded_numbers(registry):
    with registry.write() as conn:
        stored = insert_versions(conn, [_row("a", "file:///x/a1"), _row("b", "file:///x/b1"), _row("a", "file:///x/a2"),
                                        _row("b", "file:///x/b9", version=9), _row("a", "file:///x/a3", version=1)])
    assert [(r["model_name"], r["version"]) for r in stored] == [("a", 1), ("b", 1), ("a", 2), ("b", 9), ("a", 3)]
    with registry.write() as conn:  # the same files again: same numbers, fields refreshed
        again = insert_versions(conn, [_row("a", "file:///x/a2", step=7)])
    assert again[0]["version"] == 2 and get_version(registry, "a:v2")["step"] == 7


@pytest.mark.parametrize("ref, expected", [("shape", ("shape", None)), ("shape:v3", ("shape", 3)),
                                           ("shape:3", ("shape", 3)), ("shape@v12", ("shape", 12)),
                                           ("my:model:v2", ("my:model", 2))])
def test_parse_ref(ref, expected):
    assert parse_ref(ref) == expected


def test_file_name_of_a_uri_with_spaces():
    assert file_name("file:///runs/my%20job/output/a%20b.safetensors") == "a b.safetensors"


def test_saved_files_become_versions_with_their_metadata(registry, standin):
    job = standin("shape")
    enqueue(registry, job)
    run_worker(registry)
    versions = list_versions(registry, "shape_lora")
    assert [v["version"] for v in versions] == [1, 2]
    assert [file_name(v["uri"]) for v in versions] == ["shape_lora-000001.safetensors", "shape_lora.safetensors"]
    newest = get_version(registry, "shape_lora")
    assert newest["version"] == 2 and newest["rank"] == 4 and newest["alpha"] == 4.0
    assert newest["base_model_hash"] and len(newest["sha256"]) == 64 and newest["bytes"] > 0
    assert get_version(registry, newest["sha256"][:10])["version"] == 2
    assert read_meta(job)["models"]["shape_lora.safetensors"]["version"] == 2
    with pytest.raises(ModelNotFound):
        get_version(registry, "shape_lora:v9")


def test_tags_and_notes_live_in_the_job_folder_too(registry, standin):
    job = standin("shape")
    enqueue(registry, job)
    run_worker(registry)
    tagged = tag_version(registry, "shape_lora:v1", add=["best", "prod"], notes="crisp edges")
    assert tagged["tags"] == ["best", "prod"]
    entry = read_meta(job)["models"]["shape_lora-000001.safetensors"]
    assert entry == {"version": 1, "tags": ["best", "prod"], "notes": "crisp edges", "sha256": tagged["sha256"]}
    untagged = tag_version(registry, "shape_lora:v1", remove=["prod"])
    assert untagged["tags"] == ["best"] and untagged["notes"] == "crisp edges"
    assert [v["version"] for v in list_versions(registry, tag="best")] == [1]


def test_files_with_nan_weights_are_flagged(registry, standin, monkeypatch):
    monkeypatch.setenv("STANDIN_NAN", "1")
    job = standin("nan")
    enqueue(registry, job)
    run_worker(registry, continue_on_error=True)
    versions = list_versions(registry)
    assert versions and all("NaN/Inf" in v["problem"] for v in versions)


def test_a_job_without_outputs_has_no_versions(registry, runs):
    enqueue(registry, bare_job(runs, "20260101-000001-a-0001"))
    assert list_versions(registry) == []

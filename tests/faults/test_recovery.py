"""Recovery tools that must not give up: rebuild every folder it can, a damaged registry.db named with
its way out, an empty registry beside job folders, versions that survive a moved runs folder."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from kohya_wrap.registry.db import RegistryDamaged, open_registry
from kohya_wrap.registry.jobs import list_jobs
from kohya_wrap.registry.models import list_versions, tag_version
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.registry.rebuild import rebuild
from tests.registry.conftest import run_worker


def _lora_with_header(path: Path, header: dict, data: bytes = b"\0" * 16) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


DAMAGE = {
    "summary.json = []": lambda job: (job / "summary.json").write_text("[]"),
    "summary.json with odd values": lambda job: (job / "summary.json").write_text('{"status": "succeeded", "steps": "x"}'),
    "non-object events line": lambda job: (job / "events.jsonl").write_text('{"type": "started", "t": 1}\n[1, 2]\n'),
    "registry.json = []": lambda job: (job / "registry.json").write_text("[]"),
    "registry.json with odd values": lambda job: (job / "registry.json").write_text('{"queue": [], "models": 3}'),
    "LoRA header with odd values": lambda job: _lora_with_header(
        job / "output" / "odd.safetensors", {"w": {"dtype": "F16", "shape": [4], "data_offsets": "ab"}}),
    "__metadata__ as a string": lambda job: _lora_with_header(
        job / "output" / "meta.safetensors", {"__metadata__": "text", "w": {"dtype": "F16", "shape": [4],
                                                                            "data_offsets": [0, 8]}}),
    "missing data_offsets": lambda job: _lora_with_header(
        job / "output" / "nooffsets.safetensors", {"w": {"dtype": "F16", "shape": [4]}}),
}


def test_rebuild_rebuilds_every_damaged_folder_it_can(fault, registry, db_url, make_job, runs):
    fault("recovery", f"registry rebuild over 8 kinds of damaged folders [{db_url.split(':')[0]}]")
    jobs = {}
    for index, (what, damage) in enumerate(DAMAGE.items()):
        job = make_job(f"damaged{index}")
        (job / "output").mkdir(exist_ok=True)
        damage(job)
        jobs[what] = job
    sound = make_job("sound")
    report = rebuild(registry, runs)
    fault.saw(f"rebuilt {len(report.jobs)} of {len(DAMAGE) + 1} folders, {len(report.damaged)} listed as damaged, "
              f"{len(report.skipped)} skipped")
    assert sorted(report.jobs) == sorted([job.name for job in jobs.values()] + [sound.name])
    assert report.skipped == []
    damaged = dict(report.damaged)
    for what in ("summary.json = []", "non-object events line", "registry.json = []"):
        assert str(jobs[what]) in damaged, what
    assert "left out summary.json" in damaged[str(jobs["summary.json with odd values"])]
    versions = {Path(v["uri"]).name: v for v in list_versions(registry)}
    for name in ("odd.safetensors", "meta.safetensors", "nooffsets.safetensors"):
        assert versions[name]["problem"], name  # recorded with its problem, never a reason to stop
    assert "__metadata__" in versions["meta.safetensors"]["problem"]


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_a_damaged_registry_db_says_how_to_recover_and_rebuild_keeps_the_file(fault, cli, make_job, runs,
                                                                               sqlite_url, damage, tmp_path):
    fault("recovery", f"registry.db {damage}: jobs ls, then registry rebuild --move-aside")
    job = make_job("kept")
    registry = open_registry(sqlite_url)
    enqueue(registry, job)
    registry.close()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3] if damage == "truncated" else os.urandom(len(data)))
    broken = path.read_bytes()
    looked = cli("jobs", "ls")
    assert looked.exit_code == 2 and "is damaged" in looked.output and "--move-aside" in looked.output
    assert "Traceback" not in looked.output
    with pytest.raises(RegistryDamaged):
        open_registry(sqlite_url)
    rebuilt = cli("registry", "rebuild", "--move-aside", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    moved = json.loads(rebuilt.output[rebuilt.output.index("{"):])["moved_aside"]
    fault.saw(f"{looked.output.strip().splitlines()[0][7:]} -> moved aside to {Path(moved[0]).name}, rebuilt")
    assert Path(moved[0]).read_bytes() == broken  # the damaged file is kept as it was
    rows = list_jobs(open_registry(sqlite_url))
    assert [(r["id"], r["status"]) for r in rows] == [(job.name, "queued")]  # the queue state came back too


def test_an_empty_registry_beside_job_folders_says_so(fault, cli, make_job, sqlite_url):
    fault("recovery", "empty registry.db while job folders are on disk")
    make_job("one")
    make_job("two")
    result = cli("jobs", "ls")
    fault.saw(result.output.strip())
    assert result.exit_code == 0 and "2 job folders" in result.output and "registry rebuild" in result.output


def test_a_moved_runs_folder_keeps_every_version_and_prune_drops_stale_rows(fault, registry, db_url, make_job,
                                                                           runs, tmp_path):
    fault("recovery", f"runs folder moved, then registry rebuild (--prune) [{db_url.split(':')[0]}]")
    jobs = [make_job("moved"), make_job("moved", "network.network_dim=8")]
    for job in jobs:
        enqueue(registry, job)
    run_worker(registry)
    before = {(v["model_name"], v["version"]): (v["sha256"], Path(v["uri"]).name) for v in list_versions(registry)}
    tag_version(registry, "shape_lora:v1", add=["best"])
    moved = tmp_path / "elsewhere"
    shutil.move(str(runs), str(moved))
    report = rebuild(registry, moved)
    after = {(v["model_name"], v["version"]): (v["sha256"], Path(v["uri"]).name) for v in list_versions(registry)}
    assert after == before  # no duplicates, no renumbering: v1 is still v1
    assert [v["version"] for v in list_versions(registry, tag="best")] == [1]
    assert all(str(moved) in v["uri"] for v in list_versions(registry))
    assert rebuild(registry, moved, prune=True).pruned_versions == []
    # a version whose file is gone is a stale row, removed by --prune only
    gone = next(p for p in (moved / jobs[0].name / "output").glob("shape_lora-*.safetensors"))
    gone.unlink()
    assert len(list_versions(registry)) == len(before)
    pruned = rebuild(registry, moved, prune=True).pruned_versions
    fault.saw(f"{len(before)} versions before and after the move; --prune removed {pruned}")
    assert len(pruned) == 1 and len(list_versions(registry)) == len(before) - 1
    assert report.versions == len(before)


def test_new_bytes_at_an_old_place_are_a_new_version_and_the_old_keeps_its_sha(fault, registry, db_url, make_job,
                                                                              runs):
    fault("recovery", f"a LoRA overwritten in place keeps its version's sha256 under its tag [{db_url.split(':')[0]}]")
    from kohya_wrap.registry.models import sync_versions
    from kohya_wrap.job.folder import read

    job = make_job("over")
    enqueue(registry, job)
    run_worker(registry)
    final = job / "output" / "shape_lora.safetensors"
    first = next(v for v in list_versions(registry) if Path(v["uri"]).name == final.name)
    tag_version(registry, f"shape_lora:v{first['version']}", add=["prod"])
    data = bytearray(final.read_bytes())
    data[-2:] = b"\x00\x3c"  # other weights, same header
    final.write_bytes(bytes(data))
    sync_versions(registry, read(job))
    tagged = list_versions(registry, tag="prod")
    newest = max(list_versions(registry), key=lambda v: v["version"])
    fault.saw(f"v{tagged[0]['version']} keeps {tagged[0]['sha256'][:12]} (tag prod); new bytes are v{newest['version']}")
    assert [v["sha256"] for v in tagged] == [first["sha256"]] and newest["version"] > first["version"]
    assert newest["sha256"] != first["sha256"] and "replaced" in tagged[0]["problem"]

"""`registry import`: the captured sd-scripts runs adopted as jobs, with status, steps and versions from the
evidence, their files never changed, and a second import that changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path
from unittest import mock

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.registry.db import open_registry
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.registry.models import list_versions
from kohya_wrap.registry.rebuild import rebuild
from kohya_wrap.runner import adopt_evidence
from kohya_wrap.runner.adopt import adopt
from tests.conftest import FIXTURES, REPO
from tests.registry.conftest import snapshot

SHARED = REPO.parent / "shared" / "fixtures"
FAILED_RUNS = {  # captured failed run -> (status, cause, steps done) decided from its log alone
    "fail_bad_folder_name": ("failed", "no_data", None),
    "fail_missing_model": ("failed", "missing_model", None),
    "fail_unknown_argument": ("failed", "bad_arg", None),
    "fail_memory_limit_ulimit_v20GB": ("failed", "oom", None),
    "fail_memory_limit_ulimit_v12GB": ("failed", "oom", None),
    "interrupted_sigint_during_training": ("cancelled", "interrupted", 1),
    "killed_sigterm_group_during_training": ("failed", "killed", 1),
}


def whole_lora(header_copy: Path, target: Path, **metadata: str) -> Path:
    """A complete .safetensors with a captured header (the fixtures keep only headers) and zero weights."""
    header = json.loads(header_copy.read_text(encoding="utf-8"))
    header["__metadata__"].update(metadata)
    size = max(spec["data_offsets"][1] for name, spec in header.items() if name != "__metadata__")
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    target.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * size)
    return target


def header_only_lora(header_copy: Path, target: Path) -> Path:
    """A .safetensors cut off after its header (as a run killed while saving leaves it)."""
    raw = header_copy.read_bytes()
    target.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return target


def copy_run(tmp_path: Path, name: str) -> Path:
    target = tmp_path / "past" / Path(name).name
    shutil.copytree(FIXTURES / name, target)
    return target


def completed(folder: Path, lora_dir: str, *names: str) -> Path:
    """Turn the header copies NAMES in lora_dir into whole LoRA files (the copies go)."""
    for name in names:
        copy = folder / lora_dir / f"{name}.header.json"
        whole_lora(copy, folder / lora_dir / name)
        copy.unlink()
    return folder


def state_of(folder: Path) -> dict:
    """Every file under a folder with its bytes' sha256 and its mtime: what "never modified" is checked against."""
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def reg(sqlite_registry):
    return sqlite_registry


@pytest.fixture
def main_run(tmp_path) -> Path:
    """sdxl-cpu-run with its four LoRAs whole: the three step files and the final one (the step-6 header with
    ss_epoch 1, which is how the README says the final file differs)."""
    folder = completed(copy_run(tmp_path, "sdxl-cpu-run"), "lora", *(f"shape_lora-step0000000{n}.safetensors"
                                                                    for n in (2, 4, 6)))
    whole_lora(FIXTURES / "sdxl-cpu-run/lora/shape_lora-step00000006.safetensors.header.json",
               folder / "lora/shape_lora.safetensors", ss_epoch="1")
    return folder


def test_a_successful_run_becomes_a_succeeded_job_with_its_four_versions(reg, main_run, runs):
    before = state_of(main_run)
    result = adopt(reg, main_run)
    assert (result.action, result.status, result.cause) == ("imported", "succeeded", None)
    assert result.steps == {"done": 6, "total": 6}
    versions = sorted(result.versions, key=lambda v: v["version"])
    assert [(v["version"], v["step"], Path(v["file"]).name) for v in versions] == [
        (1, 2, "shape_lora-step00000002.safetensors"), (2, 4, "shape_lora-step00000004.safetensors"),
        (3, 6, "shape_lora-step00000006.safetensors"), (4, 6, "shape_lora.safetensors")]
    for version in versions:  # registered where it lies, by its own bytes' hash
        assert Path(version["file"]).parent == main_run / "lora" and version["problem"] is None
        assert version["sha256"] == hashlib.sha256(Path(version["file"]).read_bytes()).hexdigest()
    assert {Path(item["path"]).name for item in result.skipped} == {"failed-runs", "extra-run-attempt1"}
    job = Path(result.job_dir)
    assert job.parent == runs and not list(job.rglob("*.safetensors"))  # nothing copied or linked in
    assert state_of(main_run) == before  # the run's files: same bytes, same mtimes
    summary = json.loads((job / "summary.json").read_text())
    assert summary["status"] == "succeeded" and summary["tensorboard_points"] > 0
    assert summary["loss"]["source"].startswith("tensorboard")
    assert {o["path"] for o in summary["outputs"]} == {v["file"] for v in versions}
    imported = json.loads((job / "registry.json").read_text())["imported"]
    assert imported["source"] == str(main_run.resolve())
    assert {Path(f["path"]).name for f in imported["files"] if f["role"] == "log"} == {"stdout.log", "stderr.log"}
    for record in imported["files"]:
        assert record["sha256"] == hashlib.sha256(Path(record["path"]).read_bytes()).hexdigest()
        assert record["bytes"] == Path(record["path"]).stat().st_size


def test_the_job_toml_comes_from_the_runs_own_args_and_dataset_toml(reg, main_run):
    from kohya_wrap.config.resolve import resolve
    from kohya_wrap.tomlcompat import loads

    job = Path(adopt(reg, main_run).job_dir)
    config = loads((job / "job.toml").read_text())
    assert config["network"]["network_dim"] == 4 and config["training"]["max_train_steps"] == 6
    assert config["saving"]["output_name"] == "shape_lora" and config["optimizer"]["learning_rate"] == 1e-4
    assert "dataset.toml" in (job / "job.toml").read_text()  # the dataset config found beside the args file
    resolve(str(job / "job.toml"))  # config validate accepts it (raises ConfigError otherwise)


def test_a_second_import_is_a_noop_and_reads_nothing_again(reg, main_run, runs):
    first = adopt(reg, main_run)
    rows, meta = snapshot(reg), (Path(first.job_dir) / "registry.json").read_bytes()
    folders = sorted(p.name for p in runs.iterdir())
    with mock.patch.object(adopt_evidence, "file_records", side_effect=AssertionError("hashed again")):
        again = adopt(reg, main_run)
    assert (again.action, again.job_id, again.versions) == ("unchanged", first.job_id, first.versions)
    assert snapshot(reg) == rows and (Path(first.job_dir) / "registry.json").read_bytes() == meta
    assert sorted(p.name for p in runs.iterdir()) == folders
    log = main_run / "stdout.log"  # touched but the same bytes: hashed again, still the same import
    os.utime(log, ns=(log.stat().st_atime_ns, log.stat().st_mtime_ns + 10**9))
    assert adopt(reg, main_run).action == "unchanged" and snapshot(reg) == rows


def test_a_changed_folder_updates_its_job_and_keeps_the_version_numbers(reg, main_run):
    first = adopt(reg, main_run)
    shutil.copy(main_run / "lora/shape_lora-step00000006.safetensors", main_run / "lora/shape_lora-extra.safetensors")
    second = adopt(reg, main_run)
    assert (second.action, second.job_id) == ("updated", first.job_id)
    numbers = {Path(v["file"]).name: v["version"] for v in second.versions}
    assert {Path(v["file"]).name: v["version"] for v in first.versions}.items() <= numbers.items()
    assert numbers["shape_lora-extra.safetensors"] == 5


def test_rebuild_from_the_job_folders_gives_the_same_rows(reg, main_run, runs, tmp_path):
    adopt(reg, main_run)
    adopt(reg, copy_run(tmp_path, "sdxl-cpu-run-nan"))
    rows = snapshot(reg)
    fresh = open_registry(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    report = rebuild(fresh, runs)
    assert (len(report.jobs), report.versions) == (2, 5)
    assert snapshot(fresh) == rows
    fresh.close()


def test_removing_the_imported_job_leaves_the_run_alone(reg, main_run):
    from kohya_wrap.runner.control import remove_job

    before = state_of(main_run)
    result = adopt(reg, main_run)
    remove_job(reg, result.job_id)
    assert not Path(result.job_dir).exists() and list_versions(reg) == []
    assert state_of(main_run) == before


def test_simple_log_mode_run_with_a_header_only_epoch_file(reg, tmp_path):
    folder = completed(copy_run(tmp_path, "sdxl-cpu-run-simple"), "output")
    whole_lora(folder / "output/shape_lora-000001.safetensors.header.json", folder / "output/shape_lora.safetensors",
               ss_epoch="2", ss_steps="10")
    result = adopt(reg, folder)
    assert (result.status, result.steps) == ("succeeded", {"done": 10, "total": 10})
    by_file = {Path(v["file"]).name: v for v in result.versions}
    assert by_file["shape_lora.safetensors"]["problem"] is None
    epoch_one = by_file["shape_lora-000001.safetensors.header.json"]
    assert (epoch_one["step"], epoch_one["epoch"], epoch_one["sha256"]) == (5, 1, None)
    assert "only the header of shape_lora-000001.safetensors" in epoch_one["problem"]


def test_a_final_lora_cut_off_after_its_header_fails_the_run_and_is_recorded(reg, tmp_path):
    folder = copy_run(tmp_path, "sdxl-cpu-run-simple")
    header_only_lora(folder / "output/shape_lora-000001.safetensors.header.json", folder / "output/shape_lora.safetensors")
    result = adopt(reg, folder)
    assert (result.status, result.cause) == ("failed", "no_output")
    assert "final LoRA shape_lora.safetensors is not usable" in result.message
    final = next(v for v in result.versions if Path(v["file"]).name == "shape_lora.safetensors")
    assert "tensor data" in final["problem"] and final["sha256"] is None


def test_the_resumed_run_counts_its_steps_from_the_state(reg, tmp_path):
    folder = completed(copy_run(tmp_path, "sdxl-cpu-run-resume"), "output", "shape_lora.safetensors")
    result = adopt(reg, folder)
    assert (result.status, result.steps) == ("succeeded", {"done": 15, "total": 15})
    events = [json.loads(line) for line in (Path(result.job_dir) / "events.jsonl").read_text().splitlines()]
    resumed = [e for e in events if e["type"] == "resumed"]
    assert len(resumed) == 1 and (resumed[0]["step"], resumed[0]["step_offset"]) == (10, 10)
    assert [Path(item["path"]).name for item in result.skipped] == ["variant-skip_until_initial_step"]
    variant = adopt(reg, folder / "variant-skip_until_initial_step")
    assert (variant.status, variant.cause) == ("failed", "no_training")


def test_the_nan_run_is_a_nan_failure_with_its_header_only_lora(reg, tmp_path):
    result = adopt(reg, copy_run(tmp_path, "sdxl-cpu-run-nan"))
    assert (result.status, result.cause, result.steps) == ("failed", "nan", {"done": 3, "total": 3})
    [version] = result.versions
    assert (version["name"], version["step"]) == ("nan_lora", 3) and "only the header" in version["problem"]


@pytest.mark.parametrize("name", sorted(FAILED_RUNS))
def test_each_failed_run_with_only_its_log(reg, tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    for log in (FIXTURES / "sdxl-cpu-run/failed-runs").glob(f"{name}.*.log"):
        shutil.copy(log, folder / log.name)
    result = adopt(reg, folder)
    status, cause, done = FAILED_RUNS[name]
    assert (result.status, result.cause, result.steps["done"], result.versions) == (status, cause, done, [])
    assert get_job(reg, result.job_id)["status"] == status
    assert "job.toml holds only the name" in (Path(result.job_dir) / "job.toml").read_text()


def test_a_folder_of_lora_files_only_is_rebuilt_from_their_metadata(reg, main_run, tmp_path):
    folder = tmp_path / "loras-only"
    shutil.copytree(main_run / "lora", folder)
    result = adopt(reg, folder)
    assert (result.status, result.steps, len(result.versions)) == ("succeeded", {"done": 6, "total": 6}, 4)
    assert any("no sd-scripts log" in note for note in result.notes)
    shutil.copytree(main_run / "tensorboard", tmp_path / "with-tb" / "tensorboard")
    shutil.copytree(main_run / "lora", tmp_path / "with-tb" / "lora")
    with_tb = adopt(reg, tmp_path / "with-tb")
    events = [json.loads(line) for line in (Path(with_tb.job_dir) / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3, 4, 5, 6]
    assert all("loss" in e for e in events if e["type"] == "step")


def test_what_is_not_one_run_is_refused_with_a_clear_message(reg, tmp_path, runs):
    empty = tmp_path / "notes"
    empty.mkdir()
    (empty / "README.md").write_text("my notes")
    cases = {empty: "is not a run folder", empty / "README.md": "is not a folder",
             tmp_path / "gone": "does not exist",
             FIXTURES / "sdxl-cpu-run/failed-runs": "holds the logs of 7 runs"}
    for folder, message in cases.items():
        with pytest.raises(KohyaWrapError, match=message):
            adopt(reg, folder)
    job = Path(adopt(reg, copy_run(tmp_path, "sdxl-cpu-run-nan")).job_dir)
    with pytest.raises(KohyaWrapError, match="is a kohya-wrap job folder"):
        adopt(reg, job)
    assert len(list(runs.iterdir())) == 1


def test_an_unreadable_file_stops_that_folder_with_its_name(reg, tmp_path, runs):
    folder = copy_run(tmp_path, "sdxl-cpu-run-nan")
    real_open = Path.open

    def refuse(path, *args, **kwargs):
        if path.name == "train.log":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    with mock.patch.object(Path, "open", refuse), \
            pytest.raises(KohyaWrapError, match=r"Cannot read .*train\.log: Permission denied"):
        adopt(reg, folder)
    assert list(runs.iterdir()) == [] and list_versions(reg) == []


def test_cli_imports_several_folders_and_reports_each(cli, sqlite_url, main_run, tmp_path):
    nan = copy_run(tmp_path, "sdxl-cpu-run-nan")
    result = cli("registry", "import", main_run, tmp_path / "nothing-here", nan, "--json")
    assert result.exit_code == 2 and "Traceback" not in result.output
    data = json.loads(result.stdout)
    assert [(item["action"], item.get("status")) for item in data] == [
        ("imported", "succeeded"), ("failed", None), ("imported", "failed")]
    assert "does not exist" in data[1]["error"]
    again = cli("registry", "import", main_run)
    assert again.exit_code == 0 and again.output.startswith("unchanged ")
    models = json.loads(cli("models", "ls", "--json").stdout)
    assert {m["model_name"] for m in models} == {"shape_lora", "nan_lora"} and len(models) == 5
    shown = cli("report", data[0]["job_dir"], "--json")
    assert json.loads(shown.stdout)["status"] == "succeeded"  # a report made again keeps the status


def test_cli_help_has_an_example(cli):
    result = cli("registry", "import", "-h")
    assert result.exit_code == 0 and "Example:" in result.output and "--json" in result.output


@pytest.mark.skipif(not (SHARED / "sdxl-cpu-run").is_dir(), reason="the shared captures (with whole LoRAs) are absent")
def test_the_shared_captures_with_their_real_lora_bytes(reg):
    result = adopt(reg, SHARED / "sdxl-cpu-run")  # a read-only folder: importing only reads it
    assert (result.status, result.steps) == ("succeeded", {"done": 6, "total": 6})
    sums = dict(line.split()[::-1] for line in (SHARED / "sdxl-cpu-run/lora/SHA256SUMS").read_text().splitlines())
    final = next(v for v in result.versions if Path(v["file"]).name == "shape_lora.safetensors")
    assert final["sha256"] == sums["shape_lora.safetensors"] and final["problem"] is None
    assert sum(1 for v in result.versions if v["problem"]) == 3  # the step files are kept as headers only
    simple = adopt(reg, SHARED / "sdxl-cpu-run-simple")
    assert (simple.status, simple.steps) == ("succeeded", {"done": 10, "total": 10})

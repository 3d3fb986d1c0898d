"""Smoke-test pieces that need no model: checkpoint validation, the job files, output and log checks on real bytes."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

from kohya_wrap.backend import smoke

from samples import FIXTURES

RUN = FIXTURES / "sdxl-cpu-run"


def write_safetensors(path: Path, header: dict) -> Path:
    """A safetensors file with this exact header and zero-filled tensor data."""
    size = max([v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"] + [0])
    raw = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * size)
    return path


def fake_checkpoint(path: Path, count: int = smoke.CHECKPOINT_TENSORS, prefixes=smoke.CHECKPOINT_PREFIXES) -> Path:
    header = {f"{prefixes[i % len(prefixes)]}t{i}": {"dtype": "F16", "shape": [1], "data_offsets": [2 * i, 2 * i + 2]}
              for i in range(count)}
    return write_safetensors(path, header)


def test_valid_checkpoint_is_reused_without_running_anything(tmp_path):
    path = fake_checkpoint(tmp_path / "model.safetensors")
    assert smoke.checkpoint_problem(path) is None
    backend = type("B", (), {"python": "/nonexistent/python", "root": tmp_path})()
    info = smoke.build_random_checkpoint(backend, path, progress=lambda line: pytest.fail(line))
    assert info == {"path": str(path.resolve()), "reused": True, "bytes": path.stat().st_size, "seconds": 0.0}


@pytest.mark.parametrize("count, prefixes, problem", [
    (10, smoke.CHECKPOINT_PREFIXES, "has 10 tensors"),
    (smoke.CHECKPOINT_TENSORS, smoke.CHECKPOINT_PREFIXES[:3], "lacks first_stage_model."),
])
def test_incomplete_checkpoint_is_not_reused(tmp_path, count, prefixes, problem):
    assert problem in smoke.checkpoint_problem(fake_checkpoint(tmp_path / "m.safetensors", count, prefixes))


def test_unreadable_checkpoint(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    assert "cannot read" in smoke.checkpoint_problem(tmp_path / "bad.safetensors")


def test_failed_build_is_a_backend_error(tmp_path):
    backend = type("B", (), {"python": sys.executable, "root": tmp_path})()  # this python has no sd-scripts
    with pytest.raises(smoke.BackendError, match="Building the random SDXL checkpoint failed"):
        smoke.build_random_checkpoint(backend, tmp_path / "m.safetensors", progress=lambda line: None)


def test_smoke_job_is_an_ordinary_valid_job():
    from kohya_wrap.config.resolve import resolve

    config = resolve("sdxl-style", smoke.smoke_overrides(2, 256, 2))
    args = config.args()
    assert (args["max_train_steps"], args["network_dim"], args["output_name"]) == (2, 4, "smoke_lora")
    assert "save_state" not in args and config.data["platform"]["allow_cpu"] is True
    assert config.section("dataset").size() == (256, 256)


def test_smoke_dataset_layout(tmp_path):
    pytest.importorskip("PIL")
    images = smoke.write_dataset(tmp_path / "train", 64)
    assert images.name == "2_smoke"
    assert sorted(p.name for p in images.iterdir()) == [f"{c}.{e}" for c in sorted(smoke.SMOKE_IMAGES) for e in ("png", "txt")]


def real_events(*logs: Path) -> list[dict]:
    from kohya_wrap.logs.parse import parse_files

    return [event.to_dict() for event in parse_files(list(logs))]


def lora_file(tmp_path: Path, header_file: str) -> Path:
    """A LoRA with a real header from the CPU run (zero-filled data)."""
    header = json.loads((RUN / "lora" / header_file).read_text())
    return write_safetensors(tmp_path / "shape_lora.safetensors", header)


def test_real_run_passes_the_checks(tmp_path):
    result = smoke.SmokeResult(ok=False, job_dir=str(tmp_path), exit_code=0, status="succeeded")
    events = real_events(RUN / "stdout.log", RUN / "stderr.log")
    smoke.check_run(result, events, lora_file(tmp_path, "shape_lora-step00000006.safetensors.header.json"), 6)
    assert result.problems == []
    assert (result.ss_steps, result.lora_tensors, result.steps_seen) == ("6", 2166, 6)


def test_wrong_step_count_and_status_are_problems(tmp_path):
    result = smoke.SmokeResult(ok=False, job_dir=str(tmp_path), exit_code=1, status="failed")
    events = real_events(RUN / "stdout.log", RUN / "stderr.log")
    smoke.check_run(result, events, lora_file(tmp_path, "shape_lora-step00000002.safetensors.header.json"), 6)
    assert result.problems[0] == "the run ended failed (exit 1)"
    assert "LoRA metadata ss_steps is '2', expected 6" in result.problems


def test_no_data_run_exits_zero_but_fails_the_check(tmp_path):
    failed = RUN / "failed-runs"
    events = real_events(failed / "fail_bad_folder_name.stdout.log", failed / "fail_bad_folder_name.stderr.log")
    result = smoke.SmokeResult(ok=False, job_dir=str(tmp_path), exit_code=0, status="failed")
    smoke.check_run(result, events, tmp_path / "out" / "x.safetensors", 2)
    assert result.problems[0] == "the run ended failed (exit 0)"
    assert any(problem.startswith("no_data: No data found") for problem in result.problems)
    assert "the events show 0 of 2 steps" in result.problems
    assert result.problems[-1] == f"no LoRA was saved at {tmp_path / 'out' / 'x.safetensors'}"

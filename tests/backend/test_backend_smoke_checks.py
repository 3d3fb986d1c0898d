"""Smoke-test pieces that need no model: checkpoint validation, the job files, output and log checks on real bytes."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

from kohya_wrap.backend import smoke
from kohya_wrap.backend.platform import Facts, apply_profile

from samples import FIXTURES

RUN = FIXTURES / "sdxl-cpu-run"
CPU = Facts(arch="x86_64", os="Linux", python=sys.executable, torch="2.13.0+cpu", bf16_supported=True)


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


def test_job_files_follow_the_profile(tmp_path):
    pytest.importorskip("PIL")
    args, subs = apply_profile(CPU, smoke.smoke_args(tmp_path, Path("/m.safetensors"), Path("/tok"), 2))
    assert [s.key for s in subs] == ["device"]
    images = smoke.write_dataset(tmp_path / "train", 256)
    smoke.write_job(tmp_path, args, images, 256, use_cpu=True)
    from kohya_wrap.tomlcompat import loads
    import yaml

    dataset = loads((tmp_path / "dataset.toml").read_text())
    assert dataset["datasets"][0]["subsets"] == [{"image_dir": str(images), "num_repeats": 2}]
    assert loads((tmp_path / "args.toml").read_text())["smoke"]["max_train_steps"] == 2
    accelerate = yaml.safe_load((tmp_path / "accelerate.yaml").read_text())
    assert accelerate["use_cpu"] is True and accelerate["mixed_precision"] == "bf16"
    assert sorted(p.name for p in images.iterdir()) == [f"{c}.{e}" for c in sorted(smoke.SMOKE_IMAGES) for e in ("png", "txt")]


def lora_job(tmp_path: Path, header_file: str, log: Path) -> tuple[Path, dict]:
    """A job folder holding a LoRA with a real header from the CPU run, and a real log."""
    args = {"output_dir": str(tmp_path / "output"), "output_name": "shape_lora"}
    (tmp_path / "output").mkdir()
    header = json.loads((RUN / "lora" / header_file).read_text())
    write_safetensors(tmp_path / "output" / "shape_lora.safetensors", header)
    (tmp_path / "train.log").write_bytes(log.read_bytes())
    return tmp_path, args


def test_real_run_outputs_pass_the_checks(tmp_path):
    job, args = lora_job(tmp_path, "shape_lora-step00000006.safetensors.header.json", RUN / "stderr.log")
    result = smoke.SmokeResult(ok=False, job_dir=str(job), exit_code=0)
    smoke.check_outputs(job, args, 6, result)
    assert result.problems == []
    assert (result.ss_steps, result.lora_tensors, result.steps_seen) == ("6", 2166, 6)


def test_wrong_step_count_and_exit_code_are_problems(tmp_path):
    job, args = lora_job(tmp_path, "shape_lora-step00000002.safetensors.header.json", RUN / "stderr.log")
    result = smoke.SmokeResult(ok=False, job_dir=str(job), exit_code=1)
    smoke.check_outputs(job, args, 6, result)
    assert result.problems[0].startswith("trainer exited with 1")
    assert "LoRA metadata ss_steps is '2', expected 6" in result.problems


def test_no_data_run_exits_zero_but_fails_the_check(tmp_path):
    log = RUN / "failed-runs" / "fail_bad_folder_name.stderr.log"
    (tmp_path / "train.log").write_bytes(log.read_bytes())
    result = smoke.SmokeResult(ok=False, job_dir=str(tmp_path), exit_code=0)
    smoke.check_outputs(tmp_path, {"output_dir": str(tmp_path / "out"), "output_name": "x"}, 2, result)
    assert result.problems == ["sd-scripts found no training data (it exits 0 in that case)",
                               f"no LoRA was saved at {tmp_path / 'out' / 'x.safetensors'}"]


def test_step_pattern_reads_tqdm_redraws():
    log = (RUN / "stderr.log").read_bytes()
    steps = [int(m.group(1)) for m in smoke.STEP_PATTERN.finditer(log)]
    assert steps and max(steps) == 6 and all(m.group(2) == b"6" for m in smoke.STEP_PATTERN.finditer(log))

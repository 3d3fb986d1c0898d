"""End to end with the real sd-scripts on the CPU: random full-size SDXL checkpoint, 256 px, rank 4, 4 steps.

Needs KOHYA_WRAP_SD_SCRIPTS (and KOHYA_WRAP_PYTHON for its venv) and the random checkpoint that
`kohya-wrap doctor --smoke` builds (or KOHYA_WRAP_TEST_MODEL). About 4 minutes and ~22 GB RSS on 2 cores.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from kohya_wrap.logs.tensorboard import read_scalars
from kohya_wrap.artifacts.lora import inspect_lora
from kohya_wrap.runner import prepare_job, run_job
from tests.conftest import FIXTURES

pytestmark = [pytest.mark.backend, pytest.mark.slow]
E2E_OVERRIDES = [
    "platform.allow_cpu=true", "saving.output_name=e2e", "network.network_dim=4", "network.network_alpha=4.0",
    "dataset.resolution=256", "dataset.min_bucket_reso=128", "dataset.max_bucket_reso=512", "dataset.batch_size=1",
    "training.max_train_steps=4", "saving.save_every_n_steps=2", "optimizer.lr_warmup_steps=0",
    "optimizer.lr_scheduler=constant", "training.max_data_loader_n_workers=0", "~training.persistent_data_loader_workers",
]


@pytest.fixture(scope="module")
def random_model() -> Path:
    if not os.environ.get("KOHYA_WRAP_SD_SCRIPTS"):
        pytest.skip("KOHYA_WRAP_SD_SCRIPTS is not set")
    from kohya_wrap.backend.smoke import default_checkpoint

    path = Path(os.environ.get("KOHYA_WRAP_TEST_MODEL") or default_checkpoint())
    if not path.is_file() and Path("/tmp/models/sdxl_random_fp16.safetensors").is_file():
        path = Path("/tmp/models/sdxl_random_fp16.safetensors")  # where `doctor --smoke --smoke-model` put it here
    if not path.is_file():
        pytest.skip(f"no random SDXL checkpoint at {path}: run `kohya-wrap doctor --smoke` first")
    return path


@pytest.fixture
def heavy_lock():
    """Only one full-size SDXL process at a time on a 24 GB machine."""
    with open("/tmp/kohya-heavy.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
        fcntl.flock(handle, fcntl.LOCK_UN)


def test_real_training_run(random_model, example_dataset, heavy_lock, monkeypatch, tmp_path):
    from kohya_wrap.backend.tokenizers import ensure_tokenizer_cache

    monkeypatch.setenv("KOHYA_WRAP_HOME", str(tmp_path / "home"))
    ensure_tokenizer_cache(vocab=FIXTURES / "clip-tokenizers" / "bpe_simple_vocab_16e6.txt.gz")
    job_dir = prepare_job("sdxl-style", E2E_OVERRIDES, dataset=example_dataset, model=random_model)
    outcome = run_job(job_dir)
    assert outcome.status == "succeeded", (job_dir / "train.log").read_bytes()[-3000:]
    for name in ("job.toml", "dataset.toml", "args.toml", "accelerate.yaml", "command.json", "train.log",
                 "events.jsonl", "summary.json", "report.html", "report.md"):
        assert (job_dir / name).is_file(), name

    outputs = {path.name: inspect_lora(path) for path in (job_dir / "output").glob("*.safetensors")}
    assert set(outputs) == {"e2e-step00000002.safetensors", "e2e-step00000004.safetensors", "e2e.safetensors"}
    for info in outputs.values():
        assert info.nonfinite_tensors == []
        assert info.metadata["ss_network_dim"] == "4"
    assert outputs["e2e-step00000002.safetensors"].metadata["ss_steps"] == "2"

    events = [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]
    steps = [event for event in events if event["type"] == "step"]
    assert [event["step"] for event in steps] == [1, 2, 3, 4] and steps[-1]["total"] == 4
    scalars = [s for s in read_scalars(job_dir / "logs") if s.tag == "loss/average"]
    assert [s.step for s in scalars] == [1, 2, 3, 4]
    for event, scalar in zip(steps, scalars):
        assert event["avr_loss"] == pytest.approx(scalar.value, abs=0.006)  # tqdm shows avr_loss rounded
    command = json.loads((job_dir / "command.json").read_text())
    assert any("AdamW8bit -> AdamW" in line for line in command["substitutions"]) or "bitsandbytes" in str(command)
    summary = json.loads((job_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded"

"""With a real sd-scripts checkout: its own parser and dataset sanitizer accept every preset's rendered files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kohya_wrap.config.render import JobPaths, render_job_files
from kohya_wrap.config.resolve import resolve
from kohya_wrap.presets.catalog import shipped_names

CHECK = Path(__file__).resolve().parent.parent / "backend_checks" / "sd_scripts_accepts.py"
pytestmark = pytest.mark.backend


@pytest.fixture(scope="module")
def backend_root() -> str:
    root = os.environ.get("KOHYA_WRAP_SD_SCRIPTS")
    if not root:
        pytest.skip("KOHYA_WRAP_SD_SCRIPTS is not set")
    return root


@pytest.mark.parametrize("name", shipped_names())
def test_sd_scripts_accepts_rendered_files(name, backend_root, tmp_path):
    train = tmp_path / "data" / "4_ohwx"
    train.mkdir(parents=True)
    config = resolve(name, [f'model.pretrained_model_name_or_path="{tmp_path / "base.safetensors"}"'])
    subsets = [{"image_dir": str(train), "num_repeats": 4, "class_tokens": "ohwx"}]
    job = JobPaths(root=tmp_path / "job", tokenizer_cache=tmp_path / "tok")
    job.root.mkdir()
    for file_name, text in render_job_files(config, subsets, job, "accept").items():
        (job.root / file_name).write_text(text)
    python = os.environ.get("KOHYA_WRAP_PYTHON", sys.executable)
    done = subprocess.run([python, str(CHECK), backend_root, str(job.root / "args.toml")], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    width, height = config.section("dataset").size()
    assert seen["resolution"] == [width, height]
    assert seen["dataset_resolution"] == [width, height]
    assert seen["network_dim"] == config.data["network"]["network_dim"]
    assert seen["batch_size"] == config.data["dataset"]["batch_size"]
    assert seen["subsets"] == [{"image_dir": str(train), "num_repeats": 4, "is_reg": False, "caption_extension": ".txt"}]

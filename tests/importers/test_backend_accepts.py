"""With a real sd-scripts checkout: its own parser and dataset checks accept every imported preset's rendered files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kohya_wrap.config.render import JobPaths, render_job_files
from kohya_wrap.config.resolve import resolve
from kohya_wrap.importers.preset import import_preset
from tests.importers.support import VALID_SOURCES

HERE = Path(__file__).resolve().parent
CHECK = HERE.parent / "backend_checks" / "sd_scripts_accepts.py"


@pytest.mark.backend
def test_sd_scripts_accepts_every_imported_preset(tmp_path):
    root = os.environ.get("KOHYA_WRAP_SD_SCRIPTS")
    if not root:
        pytest.skip("KOHYA_WRAP_SD_SCRIPTS is not set")
    train = tmp_path / "data" / "4_ohwx"
    train.mkdir(parents=True)
    subsets = [{"image_dir": str(train), "num_repeats": 4, "class_tokens": "ohwx"}]
    model = f'model.pretrained_model_name_or_path="{tmp_path / "base.safetensors"}"'
    configs = {}
    for name, source, dataset_config in VALID_SOURCES:
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        result = import_preset(source, None, dataset_config, folder / "imported.toml")
        assert result.valid, (name, [issue.line() for issue in result.problems])
        config = resolve(str(result.out), [model])
        job = JobPaths(root=folder / "job", tokenizer_cache=tmp_path / "tok")
        job.root.mkdir()
        for file_name, text in render_job_files(config, subsets, job, "accept").items():
            (job.root / file_name).write_text(text)
        configs[str(job.root / "args.toml")] = (name, config)
    python = os.environ.get("KOHYA_WRAP_PYTHON", sys.executable)
    done = subprocess.run([python, str(HERE / "backend_loop.py"), str(CHECK), root, *configs], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"file"')]
    assert [report["file"] for report in reports] == list(configs)
    refused = {configs[report["file"]][0]: report["error"] for report in reports if "error" in report}
    assert refused == {}
    for report in reports:
        name, config = configs[report["file"]]
        seen, args = report["seen"], config.args()
        size = list(config.section("dataset").size())
        assert seen["resolution"] == size and seen["dataset_resolution"] == size, name
        assert seen["network_dim"] == args["network_dim"], name
        assert seen["batch_size"] == config.data["dataset"]["batch_size"], name
        assert seen["learning_rate"] == args["learning_rate"], name
        assert seen["subsets"] == [{"image_dir": str(train), "num_repeats": 4, "is_reg": False,
                                    "caption_extension": config.data["dataset"]["caption_extension"]}], name

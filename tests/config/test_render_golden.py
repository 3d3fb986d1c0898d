"""Golden files: every shipped preset renders to the committed expected job files.

Regenerate after an intended change with: KOHYA_WRAP_UPDATE_GOLDEN=1 python -m pytest tests/config/test_render_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kohya_wrap import paths
from kohya_wrap.config.render import JobPaths, render_job_files
from kohya_wrap.config.resolve import resolve
from kohya_wrap.presets.catalog import shipped_names
from kohya_wrap.tomlcompat import loads

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
SUBSETS = [
    {"image_dir": "/data/train/10_ohwx woman", "num_repeats": 10, "class_tokens": "ohwx woman"},
    {"image_dir": "/data/reg/1_woman", "num_repeats": 1, "class_tokens": "woman", "is_reg": True},
]
JOB = JobPaths(root=Path("/runs/job"), tokenizer_cache=Path("/cache/tokenizers"))


def rendered(name: str) -> dict[str, str]:
    config = resolve(name, ['model.pretrained_model_name_or_path="/models/sd_xl_base_1.0.safetensors"'])
    files = render_job_files(config, SUBSETS, JOB, "golden")
    files["job.toml"] = files["job.toml"].replace(str(paths.SOURCE_ROOT), "<repo>")
    return files


@pytest.mark.parametrize("name", shipped_names())
def test_preset_renders_to_golden_files(name):
    files = rendered(name)
    folder = GOLDEN / name
    if os.environ.get("KOHYA_WRAP_UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, text in files.items():
            (folder / file_name).write_text(text)
    expected = {path.name: path.read_text() for path in folder.iterdir()}
    assert files == expected


@pytest.mark.parametrize("name", shipped_names())
def test_args_keys_are_unique_across_sections(name):
    args = loads(rendered(name)["args.toml"])
    seen: dict[str, str] = {}
    for section, table in args.items():
        for key in table:
            assert key not in seen, f"{key} in [{section}] and [{seen[key]}]"
            seen[key] = section


def test_rendering_is_pure_and_deterministic():
    assert rendered("sdxl-style") == rendered("sdxl-style")


def test_job_toml_reresolves_to_the_same_config(tmp_path):
    config = resolve("sdxl-character", ["network.network_dim=8"])
    job_toml = tmp_path / "job.toml"
    job_toml.write_text(render_job_files(config, SUBSETS, JOB, "j")["job.toml"])
    again = resolve(str(job_toml))
    assert again.data == config.data


def test_sample_prompt_list_becomes_a_file():
    config = resolve("sdxl-style", ['sample.sample_prompts=["a red circle --w 256 --h 256", "a square"]',
                                    "sample.sample_every_n_steps=100"])
    files = render_job_files(config, SUBSETS, JOB, "j")
    assert files["sample_prompts.txt"] == "a red circle --w 256 --h 256\na square\n"
    args = loads(files["args.toml"])
    assert args["kohya_wrap"]["sample_prompts"] == "/runs/job/sample_prompts.txt"
    assert "sample_prompts" not in args["sample"]


def test_accelerate_config_is_explicit():
    import yaml

    config = resolve("sdxl-h100", ["launch.num_processes=2"])
    values = yaml.safe_load(render_job_files(config, SUBSETS, JOB, "j", use_cpu=False)["accelerate.yaml"])
    assert values["num_processes"] == 2 and values["distributed_type"] == "MULTI_GPU"
    assert values["mixed_precision"] == "bf16" and values["num_machines"] == 1
    assert values["dynamo_config"] == {"dynamo_backend": "NO"}
    cpu = yaml.safe_load(render_job_files(resolve("sdxl-style"), SUBSETS, JOB, "j", use_cpu=True)["accelerate.yaml"])
    assert cpu["use_cpu"] is True and cpu["distributed_type"] == "NO"

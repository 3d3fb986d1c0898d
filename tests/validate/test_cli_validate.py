"""The validate and generate commands: help, clean errors, a real run with --json and progress."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", ["validate", "generate", "export"])
def test_help_has_an_example(cli, command):
    result = cli(command, "-h")
    assert result.exit_code == 0 and "Example:" in result.output


def test_help_does_not_import_heavy_packages():
    code = ("import sys; from kohya_wrap.cli import main\n"
            "try:\n    main(['validate', '-h'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'numpy', 'PIL', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_missing_lora_is_a_clean_bad_input_error(cli, tmp_path):
    result = cli("validate", tmp_path / "nope.safetensors", "--prompt", "x")
    assert result.exit_code == 2 and "No LoRA file or job folder" in result.output
    assert "Traceback" not in result.output


def test_a_missing_base_says_how_to_give_one(cli, tmp_path):
    lora = tmp_path / "a.safetensors"
    from safetensors.numpy import save_file
    import numpy as np

    save_file({"lora_unet_input_blocks_4_1_proj_in.lora_down.weight": np.zeros((4, 640), np.float16),
               "lora_unet_input_blocks_4_1_proj_in.lora_up.weight": np.zeros((640, 4), np.float16)}, str(lora))
    result = cli("validate", lora, "--prompt", "x")
    assert result.exit_code == 2 and "No base model" in result.output and "--base" in result.output


def test_bad_settings_are_bad_input(cli, tmp_path):
    result = cli("generate", "--lora", tmp_path, "--prompt", "x", "--out", tmp_path, "--sampler", "nope")
    assert result.exit_code == 2 and "Unknown sampler 'nope'" in result.output
    result = cli("validate", tmp_path, "--prompt", "x", "--prompts", __file__)
    assert result.exit_code == 2


def test_validate_a_job_from_the_cli(cli, tiny):
    result = cli("validate", tiny.job, "--seeds", "1", "--strengths", "0,1", "--size", "64", "--steps", "2",
                 "--cfg", "5", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    progress = result.stderr.splitlines()
    assert progress[0].startswith("prompts from the job's sample prompts: 2; 1 seed(s)")
    assert any(line.startswith("[6/6] ") for line in progress)
    assert data["ok"] and data["settings"]["prompts_from"] == "the job's sample prompts"
    assert data["settings"]["prompts"][0] == {"text": "shape, a red circle", "negative": "blurry, lowres"}
    assert [lora["name"] for lora in data["loras"]] == ["shape_lora"]
    assert data["run_dir"].startswith(str(tiny.job / "validation"))


def test_generate_from_the_cli_writes_n_images(cli, tiny, tmp_path):
    result = cli("generate", "--lora", tiny.final, "--prompt", "shape, a red circle", "--seed", "5", "--n", "2",
                 "--size", "64", "--steps", "2", "--out", tmp_path / "imgs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "[2/2] " in result.stderr
    assert [i["seed"] for i in data] == [5, 6]
    assert all((tmp_path / "imgs" / f"shape_lora-w1-s{seed}.png").is_file() for seed in (5, 6))

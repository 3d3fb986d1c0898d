"""`kohya-wrap estimate`: help, JSON, the no-backend message, GPU table, bad input, light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.fixture(autouse=True)
def no_backend(monkeypatch):
    monkeypatch.delenv("KOHYA_WRAP_SD_SCRIPTS", raising=False)


def test_help_has_an_example(cli):
    result = cli("estimate", "-h")
    assert result.exit_code == 0 and "Example:" in result.output and "--gpu" in result.output


def test_json_has_every_number_with_its_basis(cli):
    result = cli("estimate", "sdxl-style", "--gpu", "4090", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["preset"] == "sdxl-style" and data["gpu"]["key"] == "rtx4090" and data["verdict"] == "fits"
    assert data["peak_vram_gib"] > 5 and data["s_per_it"] > 0 and data["cost_usd"] > 0
    for name in ("peak_vram_gib", "flops_per_step", "s_per_it", "total_seconds", "cost_usd"):
        assert data["basis"][name]
    assert data["basis"]["flops_per_step"] == "analytic (fitted to traces at the pin; not traced for this config)"


def test_without_a_backend_the_output_says_so_and_marks_the_basis(cli):
    result = cli("estimate", "sdxl-style", "--gpu", "4090")
    assert result.exit_code == 0
    assert "no sd-scripts backend is configured" in result.output
    assert "analytic (fitted to traces at the pin; not traced for this config)" in result.output and "fits" in result.output


def test_a_run_that_does_not_fit_lists_fixes_with_overrides(cli):
    result = cli("estimate", "sdxl-h100", "--gpu", "4090")
    assert result.exit_code == 0 and "DOES NOT FIT" in result.output
    assert "training.gradient_checkpointing=true" in result.output


def test_overrides_change_the_estimate(cli):
    small = json.loads(cli("estimate", "sdxl-style", "--gpu", "4090", "--json", "dataset.batch_size=1").stdout)
    large = json.loads(cli("estimate", "sdxl-style", "--gpu", "4090", "--json", "dataset.batch_size=4").stdout)
    assert large["peak_vram_gib"] > small["peak_vram_gib"] and large["s_per_it"] > small["s_per_it"]


def test_vram_only_judges_fit_and_preset_target_is_the_default(cli):
    result = cli("estimate", "sdxl-lowvram", "--vram", "12", "--json")
    data = json.loads(result.stdout)
    assert data["gpu"]["memory_gib"] == 12 and data["s_per_it"] is None
    default = cli("estimate", "sdxl-lowvram")
    assert default.exit_code == 0 and "meta.vram_gb (12 GB)" in default.output


def test_gpu_table_lists_cards_and_has_a_json_twin(cli):
    assert "rtx4090" in cli("estimate", "--gpus").output
    table = json.loads(cli("estimate", "--gpus", "--json").stdout)
    assert {"h100-sxm", "gb10", "l40s"} <= {gpu["key"] for gpu in table}


@pytest.mark.parametrize("args, message", [
    (("sdxl-style", "--gpu", "4090", "--vram", "24"), "not both"),
    (("sdxl-style", "--gpu", "voodoo"), "Unknown GPU"),
    ((), "Missing PRESET"),
    (("sdxl-style", "--gpu", "4090", "network.network_dimm=8"), "network_dimm"),
    (("no-such-preset", "--gpu", "4090"), "no-such-preset"),
])
def test_bad_input_is_one_clear_error_with_exit_2(cli, args, message):
    result = cli("estimate", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def _modules_after(argv: list[str], tmp_path) -> list[str]:
    code = ("import sys\nfrom kohya_wrap.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print('HEAVY=' + ','.join(m for m in ('torch', 'transformers', 'diffusers', 'numpy', 'safetensors') "
            "if m in sys.modules))" % argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOHYA_WRAP_")}
    env["KOHYA_WRAP_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120, check=False)
    return done.stdout.strip().splitlines()[-1].removeprefix("HEAVY=").split(",")


def test_help_and_an_analytic_estimate_import_no_torch(tmp_path):
    assert _modules_after(["estimate", "-h"], tmp_path) == [""]
    assert _modules_after(["estimate", "sdxl-style", "--gpu", "4090", "--json"], tmp_path) == [""]

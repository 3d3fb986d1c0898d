"""Every key of a kohya LoRA checked against SDXL's layers: what loaders would silently ignore is reported."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from kohya_wrap.artifacts.keys import check_keys, sdxl_table
from kohya_wrap.errors import KohyaWrapError
from tests.artifacts.conftest import lora_tensors, write_lora
from tests.conftest import FIXTURES


def _header_only(path, header: dict):
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    return path


def test_a_real_sd_scripts_sdxl_lora_maps_completely(tmp_path):
    header = json.loads((FIXTURES / "sdxl-cpu-run" / "lora" /
                         "shape_lora-step00000006.safetensors.header.json").read_text())
    report = check_keys(_header_only(tmp_path / "real.safetensors", header))
    assert (report.keys, report.modules, report.by_part) == (2166, 722, {"unet": 722})
    assert report.formats == {"lora": 722} and report.unet_naming == "sd-scripts"
    assert report.ok and report.problems() == [] and report.diffusers_problems == []


def test_the_sdxl_table_has_every_layer_sd_scripts_lora_wraps():
    table = sdxl_table()
    groups = [v[4] for v in table["unet"].values()]
    assert groups.count("attention") == 722 and groups.count("conv") == 66
    assert len(table["te1"]) == 72 and sum(v[4] == "text" for v in table["te2"].values()) == 192
    assert len(table["unet_diffusers"]) == len(table["unet"])


def test_unknown_modules_and_keys_are_reported(tmp_path):
    tensors = lora_tensors(count=3)
    tensors["lora_unet_input_blocks_99_1_proj_in.lora_down.weight"] = np.zeros((4, 640), np.float16)
    tensors["lora_unet_input_blocks_99_1_proj_in.lora_up.weight"] = np.zeros((640, 4), np.float16)
    tensors["lora_unet_input_blocks_4_1_proj_in.weird_suffix"] = np.zeros((1,), np.float16)
    tensors["text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = np.zeros((4, 768), np.float16)
    report = check_keys(write_lora(tmp_path / "x.safetensors", tensors))
    assert report.unknown_modules == ["lora_unet_input_blocks_99_1_proj_in"]
    assert sorted(report.unknown_keys) == ["lora_unet_input_blocks_4_1_proj_in.weird_suffix",
                                           "text_model_encoder_layers_0_mlp_fc1.lora_down.weight"]
    assert not report.ok and report.ignored == 1
    problems = report.problems()
    assert problems[0].startswith("1 module(s) match no SDXL layer and would be silently ignored")
    assert "2 key(s) are not LoRA keys" in problems[1]


def test_an_sd15_shaped_layer_is_a_shape_mismatch(tmp_path):
    name = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k"  # SDXL: 2048 -> 640
    tensors = {f"{name}.lora_down.weight": np.zeros((4, 768), np.float16),
               f"{name}.lora_up.weight": np.zeros((320, 4), np.float16), f"{name}.alpha": np.array(4.0, np.float16)}
    report = check_keys(write_lora(tmp_path / "sd15.safetensors", tensors))
    assert report.shape_mismatches == [{"module": name, "expected": [2048, 640], "found": [768, 320]}]
    assert report.names_ok and not report.ok


def test_loha_files_are_named_and_refused_by_validate(tmp_path):
    name = "lora_unet_input_blocks_4_1_proj_in"
    tensors = {f"{name}.hada_w1_a": np.zeros((640, 4), np.float16), f"{name}.hada_w1_b": np.zeros((4, 640), np.float16),
               f"{name}.hada_w2_a": np.zeros((640, 4), np.float16), f"{name}.hada_w2_b": np.zeros((4, 640), np.float16),
               f"{name}.alpha": np.array(4.0, np.float16)}
    path = write_lora(tmp_path / "loha.safetensors", tensors)
    report = check_keys(path)
    assert report.formats == {"loha": 1} and report.ok
    assert "1 loha module(s)" in report.diffusers_problems[0]
    from kohya_wrap.validate.flow import checked_loras

    with pytest.raises(KohyaWrapError, match="cannot be rendered with diffusers"):
        checked_loras([str(path)])


def test_diffusers_style_unet_names_are_accepted_but_mixing_is_flagged(tmp_path):
    table = sdxl_table()
    name = "lora_unet_down_blocks_1_attentions_0_proj_in"
    fan_in, fan_out = table["unet_diffusers"][name][:2]
    diffusers = {f"{name}.lora_down.weight": np.zeros((4, fan_in), np.float16),
                 f"{name}.lora_up.weight": np.zeros((fan_out, 4), np.float16)}
    report = check_keys(write_lora(tmp_path / "d.safetensors", diffusers))
    assert report.ok and report.unet_naming == "diffusers"
    mixed = check_keys(write_lora(tmp_path / "m.safetensors", {**diffusers, **lora_tensors(count=1)}))
    assert mixed.unet_naming == "mixed" and any("mix" in p for p in mixed.diffusers_problems)


def test_a_module_without_its_up_weight_is_incomplete(tmp_path):
    tensors = {k: v for k, v in lora_tensors(count=2).items() if not k.endswith("lora_up.weight") or "te" in k}
    report = check_keys(write_lora(tmp_path / "half.safetensors", tensors))
    assert len(report.incomplete) == 2 and not report.ok


def test_export_check_from_the_cli(cli, tmp_path):
    good = write_lora(tmp_path / "good.safetensors")
    result = cli("export", good, "--check")
    assert result.exit_code == 0 and "every key maps onto an SDXL layer" in result.output
    tensors = lora_tensors(count=1)
    tensors["lora_unet_nowhere.lora_down.weight"] = np.zeros((4, 8), np.float16)
    bad = write_lora(tmp_path / "bad.safetensors", tensors)
    result = cli("export", bad, "--check", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["unknown_modules"] == ["lora_unet_nowhere"] and data["ok"] is False

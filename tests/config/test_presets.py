"""Presets: shipped files are documented, listable, copyable and comparable."""

from __future__ import annotations

import json

import pytest

from kohya_wrap.presets import catalog

REQUIRED = ["sdxl-style", "sdxl-character", "sdxl-lowvram", "sdxl-pixel-art-fast", "sdxl-pixel-art-balanced",
            "sdxl-pixel-art-quality", "sdxl-dgx-spark", "sdxl-h100"]


def test_every_required_preset_is_shipped():
    assert set(REQUIRED) <= set(catalog.shipped_names())


@pytest.mark.parametrize("name", REQUIRED)
def test_preset_opens_with_a_comment_block_saying_purpose_memory_and_how_to_run(name):
    text = catalog.find_preset(name).read_text()
    head = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        head.append(line)
    block = "\n".join(head)
    assert len(head) >= 5
    assert "GPU memory" in block
    assert f"kohya-wrap presets cp {name}" in block
    assert "kohya-wrap train" in block
    assert "Why these values" in block


@pytest.mark.parametrize("tier, rank, steps", [("fast", 16, 1500), ("balanced", 32, 3000), ("quality", 64, 5000)])
def test_pixel_art_tiers(tier, rank, steps):
    data = catalog.read_preset(catalog.find_preset(f"sdxl-pixel-art-{tier}"))
    assert data["network"]["network_dim"] == rank
    assert data["network"]["network_alpha"] == rank
    assert data["training"]["max_train_steps"] == steps
    assert data["training"]["min_snr_gamma"] == 5.0
    assert data["training"]["noise_offset"] > 0
    assert data["optimizer"]["lr_scheduler"] == "cosine"
    assert data["saving"]["save_every_n_steps"] == 500


def test_platform_presets_say_what_they_avoid():
    spark = catalog.read_preset(catalog.find_preset("sdxl-dgx-spark"))
    assert "xformers" not in spark["model"] and spark["optimizer"]["optimizer_type"] == "AdamW"
    h100 = catalog.read_preset(catalog.find_preset("sdxl-h100"))
    assert h100["training"]["gradient_checkpointing"] is False and h100["dataset"]["batch_size"] >= 8
    low = catalog.read_preset(catalog.find_preset("sdxl-lowvram"))
    assert low["training"]["gradient_checkpointing"] and low["training"]["cache_text_encoder_outputs"]
    assert low["network"]["network_train_unet_only"]


def test_ls_json_lists_name_purpose_and_vram(cli):
    result = cli("presets", "ls", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["sdxl-lowvram"]["vram_gb"] == 12
    assert rows["sdxl-h100"]["vram_gb"] == 80
    assert all(row["purpose"] for row in rows.values())


def test_ls_table(cli):
    result = cli("presets", "ls")
    assert "sdxl-dgx-spark" in result.output and "128 GB" in result.output


def test_show_prints_the_file_verbatim(cli):
    result = cli("presets", "show", "sdxl-style")
    assert result.output == catalog.find_preset("sdxl-style").read_text()


def test_cp_refuses_to_overwrite_without_force(cli, tmp_path):
    target = tmp_path / "mine.toml"
    assert cli("presets", "cp", "sdxl-style", target).exit_code == 0
    assert target.read_text() == catalog.find_preset("sdxl-style").read_text()
    target.write_text("# edited\n")
    refused = cli("presets", "cp", "sdxl-style", target)
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert target.read_text() == "# edited\n"
    assert cli("presets", "cp", "sdxl-style", target, "--force").exit_code == 0
    assert target.read_text().startswith("# sdxl-style")


def test_cp_into_a_folder_keeps_the_name(cli, tmp_path):
    assert cli("presets", "cp", "sdxl-h100", tmp_path).exit_code == 0
    assert (tmp_path / "sdxl-h100.toml").is_file()


def test_unknown_preset_suggests_the_closest(cli):
    result = cli("presets", "show", "sdxl-styel")
    assert result.exit_code == 2
    assert "did you mean 'sdxl-style'" in result.output


def test_diff_shows_changed_keys_only(cli):
    result = cli("presets", "diff", "sdxl-pixel-art-fast", "sdxl-pixel-art-quality", "--json")
    rows = {row["key"]: (row["a"], row["b"]) for row in json.loads(result.output)}
    assert rows["network.network_dim"] == (16, 64)
    assert rows["training.max_train_steps"] == (1500, 5000)
    assert "optimizer.learning_rate" not in rows


def test_a_copied_preset_is_usable_by_path(cli, tmp_path):
    target = tmp_path / "copy.toml"
    cli("presets", "cp", "sdxl-lowvram", target)
    assert cli("config", "validate", target).exit_code == 0

"""Format detection from content, and the `kohya-wrap import preset` command."""

from __future__ import annotations

import json
import shutil

import pytest

from kohya_wrap.config.resolve import resolve
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers import detect
from kohya_wrap.presets.lines import key_lines
from tests.importers.support import IMPORTS, KOHYA_PRESETS, SD

PRODIGY = IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA AI_Now prodigy v1.0.json"


@pytest.mark.parametrize("path, fmt", [
    (PRODIGY, "kohya-ss"), (IMPORTS / "lora_easy" / "sdxl-locon-composed.toml", "lora-easy"),
    (IMPORTS / "lora_easy" / "readme-example.toml", "lora-easy"), (SD / "character-folders.toml", "sd-scripts"),
    (SD / "cpu-run.dataset.toml", "sd-scripts"),
    (IMPORTS / "lora" / "sdxl-cpu-run.shape_lora.safetensors.header.json", "lora")])
def test_format_is_told_from_content(path, fmt, tmp_path):
    renamed = tmp_path / "no-telling-extension.dat"
    shutil.copyfile(path, renamed)
    assert detect.load(renamed)[0] == fmt


def test_a_kohya_wrap_preset_and_unknown_json_are_refused(tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text('[meta]\nname = "x"\n[network]\nnetwork_dim = 8\n')
    with pytest.raises(KohyaWrapError, match="already a kohya-wrap preset"):
        detect.load(preset)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(KohyaWrapError, match="not a kohya_ss GUI config"):
        detect.load(other)


def test_import_preset_writes_a_valid_preset_with_provenance(cli, tmp_path):
    out = tmp_path / "prodigy.toml"
    result = cli("import", "preset", PRODIGY, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output and "Valid." in result.output
    text = out.read_text()
    assert text.startswith("# Imported by kohya-wrap from kohya_ss JSON")
    for block in ("# Carried over as they were", "# Translated", "# Dropped"):
        assert block in text
    assert "unet_lr = 1.0  # kohya_ss JSON field `unet_lr`" in text
    values = [line for line in text.splitlines() if " = " in line and not line.startswith("#")]
    assert values and all("  # " in line for line in values)
    assert resolve(str(out)).args()["optimizer_type"] == "Prodigy"
    assert set(key_lines(text)) >= {"network.network_dim", "optimizer.learning_rate"}


def test_json_lists_carried_translated_and_dropped(cli, tmp_path):
    result = cli("import", "preset", PRODIGY, "--out", tmp_path / "p.toml", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["valid"] is True and data["format"] == "kohya-ss"
    assert {"key": "network.network_dim", "value": 32, "source": "kohya_ss JSON field `network_dim`"} in data["carried"]
    translated = {item["key"]: item for item in data["translated"]}
    assert translated["optimizer.optimizer_type"]["value"] == "Prodigy" and translated["optimizer.optimizer_type"]["how"]
    assert any(item["field"] == "kohya_ss JSON field `clip_skip`" and item["reason"] for item in data["dropped"])


def test_never_overwrites_without_force_and_never_the_source(cli, tmp_path):
    out = tmp_path / "p.toml"
    out.write_text("# mine\n")
    result = cli("import", "preset", PRODIGY, "--out", out)
    assert result.exit_code == 2 and "already exists" in result.output and out.read_text() == "# mine\n"
    assert cli("import", "preset", PRODIGY, "--out", out, "--force").exit_code == 0
    source = tmp_path / "config.toml"
    shutil.copyfile(SD / "character-folders.toml", source)
    before = source.read_bytes()
    result = cli("import", "preset", source, "--out", source, "--force")
    assert result.exit_code == 2 and source.read_bytes() == before


def test_default_out_is_the_source_name_in_the_current_folder(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("import", "preset", KOHYA_PRESETS[0])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sdxl-1-image-lora-v1-0.toml").is_file()


def test_refusals_and_wrong_from_exit_2_with_a_message(cli, tmp_path):
    result = cli("import", "preset", IMPORTS / "kohya_ss" / "non_sdxl" / "flux1D - adamw8bit fp8.json",
                 "--out", tmp_path / "f.toml")
    assert result.exit_code == 2 and "FLUX.1" in result.output and "Traceback" not in result.output
    result = cli("import", "preset", PRODIGY, "--from", "lora", "--out", tmp_path / "g.toml")
    assert result.exit_code == 2 and "does not look like lora" in result.output


def test_sd_scripts_with_dataset_config_option(cli, tmp_path):
    out = tmp_path / "run.toml"
    result = cli("import", "preset", SD / "cpu-run.training_args.toml", "--from", "sd-scripts",
                 "--dataset-config", SD / "cpu-run.dataset.toml", "--out", out)
    assert result.exit_code == 0, result.output
    assert resolve(str(out)).data["dataset"]["train_dir"] == "/tmp/sdxl_run/train/3_shape"


def test_a_source_sd_scripts_would_refuse_is_written_and_reported(cli, tmp_path):
    source = tmp_path / "bad.toml"
    source.write_text("cache_text_encoder_outputs = true\nlearning_rate = 1e-4\nresolution = 1024\n")
    out = tmp_path / "bad-preset.toml"
    result = cli("import", "preset", source, "--out", out)
    assert result.exit_code == 2 and "network_train_unet_only" in result.output
    assert out.is_file()


def test_help_has_an_example(cli):
    for args in (("import", "-h"), ("import", "preset", "--help")):
        result = cli(*args)
        assert result.exit_code == 0 and "Example:" in result.output

"""kohya_ss GUI JSON -> preset: every shipped SDXL LoRA preset imports, validates and keeps its training values."""

from __future__ import annotations

import json
import re

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers import kohya_ss
from kohya_wrap.importers.preset import import_preset, read_source
from tests.importers.support import IMPORTS, KOHYA_PRESETS, KOHYA_SAVED, import_valid, load_json

ALL = KOHYA_PRESETS + KOHYA_SAVED


def number(value, default=0.0):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def test_every_sdxl_preset_kohya_ss_ships_is_a_fixture():
    # The 19 SDXL presets in kohya_ss presets/lora at the fetched commit (README lists the 12 skipped ones).
    assert len(KOHYA_PRESETS) == 19
    assert all(load_json(path)["sdxl"] is True for path in KOHYA_PRESETS)


@pytest.mark.parametrize("path", ALL, ids=[path.stem for path in ALL])
def test_import_validates_and_keeps_training_values(path, tmp_path):
    source = load_json(path)
    _result, config = import_valid(path, tmp_path)
    args, ds = config.args(), config.data["dataset"]
    assert args["network_dim"] == source["network_dim"]
    assert args["network_alpha"] == source["network_alpha"]
    assert args["optimizer_type"] == source["optimizer"]
    assert args["lr_scheduler"] == source["lr_scheduler"]
    assert args["learning_rate"] == number(source["learning_rate"])
    if number(source.get("unet_lr")):
        assert args["unet_lr"] == number(source["unet_lr"])
    if number(source.get("text_encoder_lr")):
        assert args["text_encoder_lr"] == number(source["text_encoder_lr"])
    else:
        assert args.get("network_train_unet_only") is True
    width, height = (int(part) for part in source["max_resolution"].split(","))
    assert config.section("dataset").size() == (width, height)
    assert ds["batch_size"] == int(source["train_batch_size"])
    assert args["mixed_precision"] == source["mixed_precision"]
    assert args["save_precision"] == source["save_precision"]
    if number(source.get("min_snr_gamma")):
        assert args["min_snr_gamma"] == number(source["min_snr_gamma"])
    if source.get("noise_offset_type", "Original") == "Original" and number(source.get("noise_offset")):
        assert args["noise_offset"] == number(source["noise_offset"])
        assert "multires_noise_iterations" not in args
    if source.get("noise_offset_type") == "Multires" and number(source.get("multires_noise_iterations")):
        assert args["multires_noise_iterations"] == int(source["multires_noise_iterations"])
        assert "noise_offset" not in args
    if str(source.get("seed", "")).strip() not in ("", "0"):
        assert args["seed"] == int(source["seed"])
    assert ds["keep_tokens"] == int(number(source.get("keep_tokens", 0)))
    assert ds["shuffle_caption"] == bool(source.get("shuffle_caption"))


@pytest.mark.parametrize("path", ALL, ids=[path.stem for path in ALL])
def test_steps_and_epochs_follow_the_gui(path):
    source = load_json(path)
    imp = read_source(path)
    steps, epochs = int(number(source.get("max_train_steps"))), int(number(source.get("max_train_epochs")))
    if epochs:
        assert imp.get("training.max_train_epochs") == epochs and imp.get("training.max_train_steps") is None
    elif steps:
        assert imp.get("training.max_train_steps") == steps and imp.get("training.max_train_epochs") is None
    else:
        assert imp.get("training.max_train_epochs") == int(source["epoch"])


@pytest.mark.parametrize("path", ALL, ids=[path.stem for path in ALL])
def test_every_source_field_is_accounted_for(path):
    """Each field of the JSON is carried, translated or dropped with a reason; none silently vanishes."""
    source = load_json(path)
    imp = kohya_ss.read(path)
    sources = [value.source for value in imp.values.values()] + [drop.field for drop in imp.dropped]
    mentioned = {name for text in sources if text.startswith("kohya_ss JSON") for name in re.findall(r"`([^`]+)`", text)}
    missing = [name for name in source if name not in mentioned]
    assert missing == []
    assert all(drop.reason for drop in imp.dropped)


def test_lr_warmup_percent_becomes_a_share_of_the_steps():
    path = IMPORTS / "kohya_ss" / "presets" / "locon-dadaptation-sdxl.json"
    assert load_json(path)["lr_warmup"] == 8 and "max_train_steps" not in load_json(path)
    value = read_source(path).values["lr_warmup_steps"]
    assert value.value == pytest.approx(0.08) and "8 % of the steps" in value.how


def test_lr_warmup_percent_with_known_steps_becomes_whole_steps(tmp_path):
    data = load_json(IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA AI_Now ADamW v1.0.json")
    data.update(lr_warmup=10, lr_scheduler="cosine", max_train_steps="320")
    source = tmp_path / "warm.json"
    source.write_text(json.dumps(data))
    assert read_source(source).get("optimizer.lr_warmup_steps") == 32


def test_bucket_steps_sdxl_would_refuse_are_fixed_with_the_reason():
    imp = read_source(IMPORTS / "kohya_ss" / "presets" / "locon-dadaptation-sdxl.json")
    fixed = imp.values["dataset.bucket_reso_steps"]
    assert fixed.value == 64 and "divisible by 32" in fixed.how


def test_xformers_bool_in_older_files_and_string_in_newer():
    old = read_source(IMPORTS / "kohya_ss" / "saved" / "loha-Prodigy.json")
    new = read_source(IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA AI_Now prodigy v1.0.json")
    assert old.get("model.xformers") is True and new.get("model.xformers") is True
    assert any("bool in this (older) file" in note for note in old.notes)


def test_sdpa_and_none_attention(tmp_path):
    data = load_json(IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA AI_Now prodigy v1.0.json")
    for choice, expected in (("sdpa", {"sdpa"}), ("none", set()), (False, set())):
        data["xformers"] = choice
        source = tmp_path / f"{choice}.json"
        source.write_text(json.dumps(data))
        imp = read_source(source)
        assert {key for key in ("xformers", "sdpa") if imp.get(f"model.{key}")} == expected


def test_standard_type_ignores_conv_dims():
    path = IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA AI_Now prodigy v1.0.json"
    imp = read_source(path)
    assert imp.get("network.network_module") == "networks.lora"
    assert not any("conv_dim" in word for word in imp.get("network.network_args") or [])
    reasons = {drop.field: drop.reason for drop in imp.dropped}
    assert "ignores conv dims" in reasons["kohya_ss JSON field `conv_dim`"]


def test_lycoris_types_become_lycoris_kohya_with_network_args():
    imp = read_source(IMPORTS / "kohya_ss" / "presets" / "SDXL - 1 image LoRA v1.0.json")
    source = load_json(IMPORTS / "kohya_ss" / "presets" / "SDXL - 1 image LoRA v1.0.json")
    words = imp.get("network.network_args")
    assert imp.get("network.network_module") == "lycoris.kohya"
    assert "algo=lokr" in words and f"factor={source['factor']}" in words and f"conv_dim={source['conv_dim']}" in words
    loha = read_source(IMPORTS / "kohya_ss" / "presets" / "SDXL - LoHA AI_Characters v1.0.json")
    assert "algo=loha" in loha.get("network.network_args")


def test_additional_parameters_override_the_json_fields():
    imp = read_source(IMPORTS / "kohya_ss" / "presets" / "SDXL - edgLoRAXL.json")
    value = imp.values["max_grad_norm"]
    assert value.value == 0.0 and "--max_grad_norm=0" in value.how
    prodigy = read_source(IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA kudou-reira prodigy v4.0.json")
    assert prodigy.get("optimizer.lr_scheduler_type") == "CosineAnnealingLR"
    assert prodigy.get("optimizer.lr_scheduler_args") == ["T_max=30"]
    assert prodigy.get("network.network_train_unet_only") is True


def test_folder_fields_become_dataset_sources_and_output_folders_are_dropped():
    path = IMPORTS / "kohya_ss" / "saved" / "SDXL-Standard-AdamW8bit.json"
    imp = read_source(path)
    assert imp.get("dataset.train_dir") == load_json(path)["train_data_dir"]
    reasons = {drop.field: drop.reason for drop in imp.dropped}
    assert "outputs always go to <job>/output" in reasons["kohya_ss JSON field `output_dir`"]


@pytest.mark.parametrize("name, family", [("flux1D - adamw8bit fp8.json", "FLUX.1"),
                                          ("sd15 - LoKr v2.0.json", "Stable Diffusion 1.x")])
def test_non_sdxl_presets_are_refused_clearly(name, family, tmp_path):
    with pytest.raises(KohyaWrapError) as caught:
        import_preset(IMPORTS / "kohya_ss" / "non_sdxl" / name, out=tmp_path / "x.toml")
    assert family in caught.value.message and "SDXL LoRAs only" in caught.value.message
    assert caught.value.exit_code == 2
    assert not (tmp_path / "x.toml").exists()


def test_restart_cycles_follow_the_gui_and_are_dropped_where_no_scheduler_reads_them():
    path = IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA kudou-reira prodigy v4.0.json"
    source = load_json(path)
    assert source["lr_scheduler"] == "cosine_with_restarts" and source["lr_scheduler_num_cycles"] == ""
    # train_model would use int(epoch) for '', but update_my_data has already turned '' into 1 when the GUI loaded it.
    assert read_source(path).get("optimizer.lr_scheduler_num_cycles") == 1
    constant = read_source(IMPORTS / "kohya_ss" / "presets" / "SDXL - LoRA AI_Now prodigy v1.0.json")
    assert constant.get("optimizer.lr_scheduler_num_cycles") is None
    assert any("has no cycles" in drop.reason for drop in constant.dropped)


def test_gui_defaults_fill_missing_fields_and_say_so():
    path = IMPORTS / "kohya_ss" / "presets" / "locon-dadaptation-sdxl.json"
    assert "min_bucket_reso" not in load_json(path)
    imp = read_source(path)
    assert imp.get("dataset.min_bucket_reso") == 256 and imp.get("dataset.max_bucket_reso") == 2048
    assert any("`min_bucket_reso` is missing: the GUI's default 256" in note for note in imp.notes)

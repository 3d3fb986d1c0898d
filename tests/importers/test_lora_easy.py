"""LoRA_Easy TOML -> preset: widget tables, warmup ratio, network/optimizer args tables, [[subsets]]."""

from __future__ import annotations

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers.preset import read_source
from kohya_wrap.tomlcompat import loads
from tests.importers.support import IMPORTS, import_valid

COMPOSED = IMPORTS / "lora_easy" / "sdxl-locon-composed.toml"
README = IMPORTS / "lora_easy" / "readme-example.toml"


def test_composed_sdxl_toml_keeps_its_training_values(tmp_path):
    source = loads(COMPOSED.read_text())
    _result, config = import_valid(COMPOSED, tmp_path)
    args, ds = config.args(), config.data["dataset"]
    general, network, optimizer = (source[name]["args"] for name in ("general_args", "network_args", "optimizer_args"))
    for key in ("learning_rate", "unet_lr", "text_encoder_lr", "optimizer_type", "lr_scheduler", "min_snr_gamma",
                "max_grad_norm"):
        assert args[key] == optimizer[key], key
    for key in ("network_dim", "network_alpha"):
        assert args[key] == network[key]
    for key in ("mixed_precision", "seed", "max_train_epochs", "max_token_length", "cache_latents"):
        assert args[key] == general[key]
    assert args["noise_offset"] == source["noise_args"]["args"]["noise_offset"]
    assert config.section("dataset").size() == tuple(source["general_args"]["dataset_args"]["resolution"])
    assert ds["batch_size"] == source["general_args"]["dataset_args"]["batch_size"]
    for key, value in source["bucket_args"]["dataset_args"].items():
        assert ds[key] == value
    assert args["network_module"] == "lycoris.kohya"
    assert args["network_args"] == ["conv_dim=8", "conv_alpha=4.0", "algo=locon", "preset=full"]
    assert args["optimizer_args"] == ["weight_decay=0.1", "betas=0.9,0.99"]
    assert args["output_name"] == "ohwx_v1" and args["log_prefix"] == "ohwx_"


def test_warmup_ratio_without_a_step_count_is_a_share_of_the_steps():
    value = read_source(COMPOSED).values["lr_warmup_steps"]
    assert value.value == 0.05 and value.source.endswith("`optimizer_args.args.warmup_ratio`")


def test_subsets_become_dataset_sources_with_their_options():
    imp = read_source(COMPOSED)
    assert imp.get("dataset.train_dir") == "/data/lora/img/10_ohwx woman"
    assert imp.get("dataset.reg_dir") == "/data/lora/reg/1_woman"
    assert imp.get("dataset.num_repeats") is None  # the folder names carry the repeats
    assert imp.get("dataset.keep_tokens") == 1 and imp.get("dataset.shuffle_caption") is True


def test_ui_only_and_job_folder_keys_are_dropped_with_reasons():
    reasons = {drop.field.split(" ")[-1].strip("`"): drop.reason for drop in read_source(COMPOSED).dropped}
    assert "UI-only" in reasons["saving_args.args.tag_occurrence"]
    assert "<job>/output" in reasons["saving_args.args.output_dir"]


def _variant(tmp_path, **optimizer):
    text = COMPOSED.read_text().replace("max_train_epochs = 10\n", "max_train_steps = 2000\n")
    for key, value in optimizer.items():
        text = text.replace("[optimizer_args.args]\n", f"[optimizer_args.args]\n{key} = {value!r}\n".replace("'", '"'))
    path = tmp_path / "variant.toml"
    path.write_text(text)
    return path


def test_warmup_ratio_with_max_train_steps_becomes_whole_steps(tmp_path):
    imp = read_source(_variant(tmp_path))
    assert imp.get("training.max_train_steps") == 2000
    assert imp.get("optimizer.lr_warmup_steps") == 100


def test_custom_scheduler_gets_warmup_and_first_cycle_in_its_args(tmp_path):
    path = _variant(tmp_path, lr_scheduler_type="LoraEasyCustomOptimizer.CosineAnnealingWarmRestarts."
                    "CosineAnnealingWarmRestarts", lr_scheduler_num_cycles=4)
    imp = read_source(path)
    assert imp.get("optimizer.lr_scheduler_args") == ["first_cycle_max_steps=500", "warmup_steps=25"]
    assert imp.get("optimizer.lr_warmup_steps") is None


def test_readme_example_is_sd15_and_refused():
    with pytest.raises(KohyaWrapError) as caught:
        read_source(README)
    assert "Stable Diffusion 1.x" in caught.value.message and "sdxl = true" in caught.value.message

"""Each rule sd-scripts checks late, badly or never, run through the CLI with its message asserted."""

from __future__ import annotations

import os

import pytest

from kohya_wrap.tomlcompat import loads

CASES = [
    (["dataset.bucket_reso_steps=48"], "dataset.bucket_reso_steps: 48 is not a multiple of 32"),
    (["dataset.max_bucket_reso=768"], "dataset.max_bucket_reso: 768 is smaller than the resolution 1024x1024"),
    (["dataset.min_bucket_reso=1280"], "dataset.min_bucket_reso: 1280 is larger than the resolution 1024x1024"),
    (["network.network_train_unet_only=false"],
     "training.cache_text_encoder_outputs: caching text-encoder outputs needs network_train_unet_only = true"),
    (["dataset.shuffle_caption=true"], "dataset.shuffle_caption: cannot be used with cache_text_encoder_outputs"),
    (["dataset.caption_dropout_rate=0.1"], "dataset.caption_dropout_rate: cannot be used with cache_text_encoder_outputs"),
    (["dataset.token_warmup_step=10"], "dataset.token_warmup_step: cannot be used with cache_text_encoder_outputs"),
    (["dataset.color_aug=true"], "dataset.color_aug: cannot be used with cache_latents"),
    (["dataset.random_crop=true"], "dataset.random_crop: cannot be used with cache_latents"),
    (["optimizer.text_encoder_lr=[5e-5, 1e-5]"], "optimizer.text_encoder_lr: give one value"),
    (["optimizer.text_encoder_lr1=5e-5"], "did you mean 'text_encoder_lr'?"),
    (["sample.sample_every_n_steps=100", "~sample.sample_prompts"],
     "sample.sample_every_n_steps: sampling needs sample_prompts"),
    (["sample.sample_at_first=true", "~sample.sample_prompts"], "sample.sample_at_first: sampling needs sample_prompts"),
    (["training.full_bf16=true", "training.mixed_precision=fp16"], "training.full_bf16: needs mixed_precision = 'bf16'"),
    (["training.full_fp16=true"], "training.full_fp16: needs mixed_precision = 'fp16', not 'bf16'"),
    (["training.fp8_base=true", "training.mixed_precision=no"], "training.fp8_base: needs mixed_precision = 'fp16' or 'bf16'"),
    (["optimizer.lr_scheduler=constant"], "optimizer.lr_warmup_steps: the 'constant' scheduler ignores warmup"),
]


@pytest.mark.parametrize("overrides, message", CASES, ids=[case[1].split(":")[0] for case in CASES])
def test_rule_message(cli, overrides, message):
    result = cli("config", "validate", "sdxl-style", *overrides)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_model_is_caught_before_any_hub_lookup(cli, example_dataset, tmp_path):
    result = cli("config", "render", "sdxl-style", "--dataset", example_dataset, "--model", tmp_path / "nope.safetensors",
                 "--out", tmp_path / "job")
    assert result.exit_code == 2
    assert "model.pretrained_model_name_or_path" in result.output and "does not exist" in result.output
    assert "[from --model]" in result.output
    assert not (tmp_path / "job").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_is_refused(cli, example_dataset, model_file, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    result = cli("config", "render", "sdxl-style", "--dataset", example_dataset, "--model", model_file,
                 "--out", locked / "job")
    assert result.exit_code == 2 and "is not writable" in result.output


def test_unwritable_output_rule_directly(tmp_path, monkeypatch):
    from kohya_wrap.config import rules

    monkeypatch.setattr(rules.os, "access", lambda path, mode: False)
    issues = rules.output_rules(tmp_path / "a" / "b")
    assert issues and "is not writable" in issues[0].problem


def test_resolution_is_rendered_as_w_h_and_caption_extension_explicitly(cli, example_dataset, model_file, tmp_path):
    result = cli("config", "render", "sdxl-style", "--dataset", example_dataset, "--model", model_file,
                 "--out", tmp_path / "job", "dataset.resolution=[1024, 768]", "dataset.min_bucket_reso=512")
    assert result.exit_code == 0, result.output
    args = loads((tmp_path / "job" / "args.toml").read_text())
    assert args["kohya_wrap"]["resolution"] == "1024,768"
    dataset = loads((tmp_path / "job" / "dataset.toml").read_text())
    assert dataset["general"]["caption_extension"] == ".txt"
    assert dataset["datasets"][0]["resolution"] == [1024, 768]


def test_integer_resolution_still_renders_as_a_string(cli, example_dataset, model_file, tmp_path):
    cli("config", "render", "sdxl-lowvram", "--dataset", example_dataset, "--model", model_file, "--out", tmp_path / "j")
    args = loads((tmp_path / "j" / "args.toml").read_text())
    assert args["kohya_wrap"]["resolution"] == "1024,1024"

"""Config resolution: overrides, provenance, every problem collected at once, unknown keys rejected."""

from __future__ import annotations

import pytest

from kohya_wrap.config.resolve import resolve
from kohya_wrap.errors import ConfigError
from kohya_wrap.presets.overrides import parse_override, parse_value


@pytest.mark.parametrize("raw, value", [("16", 16), ("1e-4", 1e-4), ("true", True), ("[1, 2]", [1, 2]),
                                        ('"x y"', "x y"), ("AdamW", "AdamW"), ("1024,1024", "1024,1024")])
def test_override_values_are_toml_else_strings(raw, value):
    assert parse_value(raw) == value


def test_override_forms():
    assert parse_override("network.network_dim=8").value == 8
    assert parse_override("~training.noise_offset").remove
    assert parse_override("nodot=1").problem.startswith("expected section.key")  # a ConfigIssue


def test_overrides_apply_and_remember_their_source():
    config = resolve("sdxl-style", ["network.network_dim=8", "~training.noise_offset"])
    assert config.data["network"]["network_dim"] == 8
    assert "noise_offset" not in config.data["training"]
    assert config.provenance["network.network_dim"] == "override 'network.network_dim=8'"
    assert config.provenance["network.network_alpha"].startswith("sdxl-style.toml:")


def test_provenance_points_at_the_preset_line():
    config = resolve("sdxl-style")
    line = int(config.provenance["optimizer.learning_rate"].split(":")[1])
    text = config.preset_path.read_text().splitlines()
    assert text[line - 1].startswith("learning_rate")


def test_all_problems_are_reported_together_with_sources_and_suggestions():
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", ["network.network_dimm=8", "training.max_train_steps=many",
                               "optimizer.lr_scheduler=constant", "dataset.batch_sise=2", "trainng.seed=1"])
    text = caught.value.render()
    assert text.startswith("Config is not valid, 5 problems:")
    assert "network.network_dimm: not an argument of sdxl_train_network.py" in text
    assert "did you mean 'network_dim'?" in text
    assert "[from override 'network.network_dimm=8']" in text
    assert "training.max_train_steps: expected an integer, got str 'many'" in text
    assert "dataset.batch_sise: unknown key" in text and "did you mean 'batch_size'?" in text
    assert "trainng: unknown section" in text and "did you mean 'training'?" in text
    # the rules across values still judge the sound ones: the constant scheduler ignores the preset's warmup
    assert "optimizer.lr_warmup_steps: the 'constant' scheduler ignores warmup" in text


def test_a_bad_value_does_not_hide_the_problems_of_the_others():
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", ["dataset.resolution=768,1024", "network.network_dim=abc",
                               "optimizer.optimizer_type=AdamW8bitt", "optimizer.lr_scheduler=cosine_with_restart",
                               "dataset.min_bucket_reso=4096"])
    text = caught.value.render()
    assert text.startswith("Config is not valid, 4 problems:"), text
    assert "dataset.resolution: resolution '768,1024' is not a number or a list" in text
    assert "network.network_dim: expected an integer" in text
    assert "did you mean 'AdamW8bit'?" in text and "did you mean 'cosine_with_restarts'?" in text
    # min_bucket_reso is judged against a resolution: the user's is bad, so no verdict on the default
    assert "min_bucket_reso" not in text


def test_rules_run_once_the_keys_are_valid():
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", ["optimizer.lr_scheduler=constant"])
    assert "optimizer.lr_warmup_steps: the 'constant' scheduler ignores warmup" in caught.value.render()
    assert "sdxl-style.toml:" in caught.value.render()


def test_a_key_in_two_sections_is_an_error(tmp_path):
    preset = tmp_path / "dup.toml"
    preset.write_text("[training]\nseed = 1\n[advanced]\nseed = 2\n")
    with pytest.raises(ConfigError) as caught:
        resolve(str(preset))
    assert "advanced.seed: also set in [training]" in caught.value.render()
    assert "dup.toml:4" in caught.value.render()


def test_reserved_and_dataset_arguments_are_redirected(tmp_path):
    preset = tmp_path / "bad.toml"
    preset.write_text('[saving]\noutput_dir = "/x"\n[training]\nshuffle_caption = true\ntrain_batch_size = 4\n')
    with pytest.raises(ConfigError) as caught:
        resolve(str(preset))
    text = caught.value.render()
    assert "saving.output_dir: set by kohya-wrap" in text
    assert "training.shuffle_caption: is a dataset option: set dataset.shuffle_caption" in text
    assert "training.train_batch_size: set by kohya-wrap: use dataset.batch_size" in text


def test_choices_and_list_types_are_checked():
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", ["training.mixed_precision=fp8", 'optimizer.optimizer_args="weight_decay=0.1"'])
    text = caught.value.render()
    assert "'fp8' is not one of: no, fp16, bf16" in text
    assert "optimizer.optimizer_args: expected a list of str values" in text


def test_values_cannot_smuggle_arguments(tmp_path):
    """A value that looks like a flag stays a value inside args.toml; argv never carries preset values."""
    from kohya_wrap.config.render import JobPaths, render_args
    from kohya_wrap.launch.spec import build_argv

    # (output_name itself now keeps the name rule: tests/faults/test_hostile_values.py)
    config = resolve("sdxl-style", ['model.vae="x --network_dim 999 --output_dir /etc"'])
    args = render_args(config, JobPaths(tmp_path, tmp_path / "tok"), "job")
    assert args["model"]["vae"] == "x --network_dim 999 --output_dir /etc"
    argv = build_argv(python="python", backend_root=tmp_path, job_dir=tmp_path)
    assert not any("999" in part or "/etc" in part for part in argv)


def test_bad_override_key_shapes_are_reported():
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", ["network_dim=8", "~network.nope"])
    text = caught.value.render()
    assert "network_dim: expected section.key=value" in text
    assert "network.nope: cannot remove: no such key" in text


def test_validate_cli_exit_code_and_message(cli):
    result = cli("config", "validate", "sdxl-style", "network.network_dimm=8")
    assert result.exit_code == 2
    assert "Config is not valid, 1 problem:" in result.output
    assert "Traceback" not in result.output
    ok = cli("config", "validate", "sdxl-style", "network.network_dim=8")
    assert ok.exit_code == 0 and "valid" in ok.output


def test_wrapper_section_values_are_checked_with_a_plain_message():
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", ["dataset.resolution=[1024, 1024, 3]", "launch.launcher=ssh"])
    text = caught.value.render()
    assert "dataset.resolution: resolution is one size (1024) or [width, height]" in text
    assert "Value error" not in text
    assert "launch.launcher: Input should be 'accelerate' or 'python'" in text

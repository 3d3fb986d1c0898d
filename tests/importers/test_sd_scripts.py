"""sd-scripts TOMLs (its own --output_config files, real run configs, dataset configs) -> presets."""

from __future__ import annotations

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers.args import DATASET_RENAMES
from kohya_wrap.importers.preset import read_source
from kohya_wrap.importers.sd_scripts import flatten
from kohya_wrap.tomlcompat import loads
from tests.importers.support import SD, import_valid

OUTPUT_CONFIGS = [SD / "character-folders.toml", SD / "style-locon-prodigy.toml"]
JOB_KEYS = {"output_dir", "logging_dir", "dataset_config", "tokenizer_cache_dir", "resolution", "text_encoder_lr"}


@pytest.mark.parametrize("path", OUTPUT_CONFIGS, ids=[path.stem for path in OUTPUT_CONFIGS])
def test_output_config_values_arrive_unchanged(path, tmp_path):
    source = {key: value for key, (value, _where) in flatten(loads(path.read_text())).items()}
    _result, config = import_valid(path, tmp_path)
    args, ds = config.args(), config.data["dataset"]
    for key, value in source.items():
        if key in JOB_KEYS:
            continue
        target = DATASET_RENAMES.get(key, key)
        found = ds[target] if target in ds or key in DATASET_RENAMES else args[key]
        assert found == value, key


def test_text_encoder_rate_list_becomes_its_one_value(tmp_path):
    _result, config = import_valid(SD / "character-folders.toml", tmp_path)
    assert config.args()["text_encoder_lr"] == 5e-05
    assert config.section("dataset").size() == (1024, 1024)


def test_linked_dataset_config_is_read_next_to_the_config(tmp_path):
    _result, config = import_valid(SD / "style-locon-prodigy.toml", tmp_path)
    ds = config.data["dataset"]
    # Two <repeats>_<name> subsets in one folder: their parent becomes the training folder.
    assert ds["train_dir"] == "/data/style"
    assert (ds["batch_size"], ds["min_bucket_reso"], ds["max_bucket_reso"], ds["flip_aug"]) == (4, 640, 1536, True)


def test_real_run_config_with_its_dataset_config(tmp_path):
    _result, config = import_valid(SD / "cpu-run.training_args.toml", tmp_path, SD / "cpu-run.dataset.toml")
    args, ds = config.args(), config.data["dataset"]
    assert (args["network_dim"], args["network_alpha"], args["learning_rate"]) == (4, 4.0, 1e-4)
    assert (args["optimizer_type"], args["lr_scheduler"], args["max_train_steps"], args["seed"]) == ("AdamW", "constant", 6, 42)
    assert (ds["resolution"], ds["batch_size"], ds["enable_bucket"], ds["keep_tokens"]) == (256, 1, False, 1)
    assert ds["train_dir"] == "/tmp/sdxl_run/train/3_shape"


def test_several_flat_subsets_keep_the_first_and_say_why(tmp_path):
    result, config = import_valid(SD / "cpu-run-simple.training_args.toml", tmp_path, SD / "cpu-run-simple.dataset.toml")
    ds = config.data["dataset"]
    assert ds["train_dir"].endswith("/subset_a") and ds["num_repeats"] == 2
    assert ds["reg_dir"].endswith("/reg")
    assert any("one training and one regularisation folder" in drop.reason for drop in result.imported.dropped)


def test_missing_linked_dataset_config_is_dropped_with_a_hint():
    imp = read_source(SD / "cpu-run.training_args.toml")
    reasons = [drop.reason for drop in imp.dropped if "dataset_config" in drop.field]
    assert reasons and "--dataset-config" in reasons[0]
    # Without the dataset config, sd-scripts' own defaults stand in for what the file leaves out.
    assert imp.get("dataset.enable_bucket") is False and imp.get("dataset.caption_extension") == ".caption"


def test_unknown_and_reserved_keys_are_dropped_with_reasons(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('network_dimm = 8\nnetwork_dim = 16\nresume = "/x/state"\nresolution = "768,1024"\n'
                    'keep_tokens = "2"\n')
    imp = read_source(path)
    reasons = {drop.field.split(" ")[-1].strip("`"): drop.reason for drop in imp.dropped}
    assert "did you mean 'network_dim'" in reasons["network_dimm"]
    assert "kohya-wrap train --resume" in reasons["resume"]
    assert imp.get("dataset.resolution") == [768, 1024] and imp.get("dataset.keep_tokens") == 2


@pytest.mark.parametrize("body, family", [('v2 = true\n', "Stable Diffusion 2.x"),
                                          ('network_module = "networks.lora_flux"\n', "FLUX.1"),
                                          ('t5xxl = "/m/t5.safetensors"\n', "FLUX.1"),
                                          ('weighting_scheme = "logit_normal"\n', "SD3")])
def test_other_families_are_refused(body, family, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(KohyaWrapError) as caught:
        read_source(path)
    assert family in caught.value.message

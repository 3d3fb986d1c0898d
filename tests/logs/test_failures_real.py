"""Every real failure captured in tests/fixtures, replayed through `kohya-wrap logs parse --json`, names its cause."""

from __future__ import annotations

import json

import pytest

from .conftest import FAILED, FIXTURES

REAL = FIXTURES / "failures-real"
OLD = {name: [FAILED / f"{name}.stdout.log", FAILED / f"{name}.stderr.log"] for name in (
    "fail_bad_folder_name", "fail_missing_model", "fail_unknown_argument", "fail_memory_limit_ulimit_v20GB",
    "fail_memory_limit_ulimit_v12GB", "interrupted_sigint_during_training", "killed_sigterm_group_during_training")}
# name -> (kind, words the message holds, the innermost sd-scripts frame or None, the path it names or None)
EXPECTED = {
    "fail_bad_folder_name": ("no_data", ["No data found"], None, None),
    "fail_missing_model": ("missing_model", ["/tmp/models/missing_model.safetensors"], None, None),
    "fail_unknown_argument": ("bad_arg", ["--network_dimm"], None, None),
    "fail_memory_limit_ulimit_v20GB": ("oom", ["can't allocate memory"], None, None),
    "fail_memory_limit_ulimit_v12GB": ("oom", ["unable to mmap"], None, None),
    "interrupted_sigint_during_training": ("interrupted", ["KeyboardInterrupt"], None, None),
    "killed_sigterm_group_during_training": ("killed", ["no error message"], None, None),
    "nan": ("nan", ["avr_loss is NaN"], None, None),
    "backend_no_accelerate": ("backend_import", ["No module named 'accelerate'"], None, None),
    "caption_empty": ("bad_dataset", ["caption file is empty"], "library/train_util.py:1964 in read_caption",
                      "/tmp/h10/data_empty/3_shape/02_yellow_triangle.txt"),
    "caption_not_utf8": ("bad_dataset", ["UnicodeDecodeError", "not UTF-8"], "library/train_util.py:1960 in read_caption",
                         "/tmp/h10/data_utf/3_shape/04_purple_square.txt"),
    "adaptive_noise_without_offset": ("bad_arg", ["adaptive_noise_scale requires noise_offset"],
                                      "library/train_util.py:4445 in verify_training_args", None),
    "tokenizer_offline": ("missing_file", ["tokenizer"], "library/strategy_base.py:65 in _load_tokenizer", None),
    "sampling_missing_control_image": ("sampling_failed", ["sample image", "No such file"],
                                       "library/train_util.py:6538 in sample_image_inference",
                                       "/tmp/h10/no_such_control.png"),
    "network_args_not_a_number": ("bad_network_args", ["invalid literal for int()", "conv_dim"],
                                  "networks/lora.py:438 in create_network", None),
    "image_truncated": ("corrupt_image", ["image file is truncated"], "library/train_util.py:2957 in load_image",
                        "/tmp/h10diag/data_trunc/3_shape/03_blue_circle.png"),
    # blind probes (tools/blind_probe.py), launched past kohya-wrap's own checks
    "network_module_missing": ("bad_arg", ["No module named 'networks.lora_nope'", "args.network_module"],
                               "train_network.py:644 in train", None),
    "model_truncated": ("bad_model", ["base model", "MetadataIncompleteBuffer"],
                        "library/sdxl_model_util.py:182 in load_models_from_sdxl_checkpoint", None),
    "image_not_an_image": ("corrupt_image", ["cannot identify image file"], "library/train_util.py:2950 in load_image",
                           "/tmp/blind/image_not_an_image/img/2_shp shape/shape3.png"),
    "optimizer_class_missing": ("bad_arg", ["has no attribute 'AdamWW'"], "library/train_util.py:5134 in get_optimizer",
                                None),
    "network_dim_zero": ("bad_arg", ["optimizer got an empty parameter list"], None, None),
}
HINT_WORDS = {"network_module_missing": "The setting network_module", "network_dim_zero": "no weights to train"}


def logs_of(name: str) -> list:
    if name in OLD:
        return OLD[name]
    if name == "nan":
        return [FIXTURES / "sdxl-cpu-run-nan" / "train.log"]
    return [REAL / name / "train.log"]


def test_every_captured_failure_is_listed_here():
    """A new capture in failures-real must get its expectation in this table."""
    captured = {path.name for path in REAL.iterdir() if (path / "train.log").is_file()}
    assert captured <= set(EXPECTED) and len(captured) >= 5


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replayed_failure_gets_a_specific_kind_and_a_message_naming_the_cause(cli, name):
    paths = logs_of(name)
    if not all(path.is_file() for path in paths):
        pytest.skip(f"{name} is not captured in this checkout")
    result = cli("logs", "parse", *map(str, paths), "--json")
    assert result.exit_code == 0, result.output
    errors = [e for e in map(json.loads, result.output.splitlines()) if e["type"] == "error"]
    kind, words, frame, path = EXPECTED[name]
    assert errors and all(e["kind"] != "unknown" for e in errors), errors
    assert errors[0]["kind"] == kind, errors
    assert all(word in errors[0]["message"] for word in words), errors[0]
    assert errors[0]["hint"] and "Read the traceback" not in errors[0]["hint"]
    assert errors[0].get("frame") == frame if frame else True
    assert HINT_WORDS.get(name, "") in errors[0]["hint"]
    assert errors[0].get("path") == path if path else True
    assert not any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in errors[0]["message"])  # English


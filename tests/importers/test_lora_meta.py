"""LoRA ss_* metadata -> config values (pure), and -> a preset that matches the run that trained it."""

from __future__ import annotations

import json
import struct

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers.lora_meta import config_from_header, facts_from_metadata, parse_value, read_header
from kohya_wrap.importers.optimizers import optimizer_from_metadata
from kohya_wrap.importers.preset import read_source
from tests.importers.support import IMPORTS, LORA_HEADERS, SD, import_valid

CPU_RUN = IMPORTS / "lora" / "sdxl-cpu-run.shape_lora.safetensors.header.json"
SIMPLE = IMPORTS / "lora" / "sdxl-cpu-run-simple.shape_lora.safetensors.header.json"


def as_safetensors(header: dict, path):
    """A real .safetensors file layout (8-byte little-endian size, JSON header); the tensor bytes are not needed."""
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


@pytest.mark.parametrize("path", LORA_HEADERS, ids=[path.name.split(".")[0] for path in LORA_HEADERS])
def test_imported_values_equal_the_metadata(path, tmp_path):
    meta = json.loads(path.read_text())["__metadata__"]
    _result, config = import_valid(as_safetensors(json.loads(path.read_text()), tmp_path / "x.safetensors"), tmp_path)
    args, ds = config.args(), config.data["dataset"]
    for arg, key in (("network_dim", "ss_network_dim"), ("network_alpha", "ss_network_alpha"),
                     ("learning_rate", "ss_learning_rate"), ("lr_scheduler", "ss_lr_scheduler"),
                     ("max_train_steps", "ss_max_train_steps"), ("seed", "ss_seed"),
                     ("mixed_precision", "ss_mixed_precision"),
                     ("gradient_accumulation_steps", "ss_gradient_accumulation_steps")):
        assert str(args[arg]) == meta[key], arg
    dataset = json.loads(meta["ss_datasets"])[0]
    assert config.section("dataset").size() == tuple(dataset["resolution"])
    assert ds["batch_size"] == dataset["batch_size_per_device"]
    assert args["network_module"] == meta["ss_network_module"] and args["optimizer_type"] == "AdamW"
    assert args["network_train_unet_only"] is True  # no lora_te* tensors in either file


def test_lora_and_the_config_that_trained_it_agree(tmp_path):
    """The sdxl-cpu-run LoRA was trained from cpu-run.training_args.toml + cpu-run.dataset.toml."""
    _a, from_lora = import_valid(CPU_RUN, tmp_path / "a")
    _b, from_config = import_valid(SD / "cpu-run.training_args.toml", tmp_path / "b", SD / "cpu-run.dataset.toml")
    keys = ("network_module", "network_dim", "network_alpha", "learning_rate", "optimizer_type", "lr_scheduler",
            "max_train_steps", "seed", "mixed_precision", "network_train_unet_only", "gradient_checkpointing")
    assert {key: from_lora.args()[key] for key in keys} == {key: from_config.args()[key] for key in keys}
    for key in ("resolution", "batch_size", "keep_tokens", "enable_bucket"):
        assert from_lora.data["dataset"][key] == from_config.data["dataset"][key], key


def test_facts_are_typed_and_name_datasets_and_base_model():
    header = json.loads(SIMPLE.read_text())
    facts = facts_from_metadata(header["__metadata__"], [name for name in header if name != "__metadata__"])
    assert facts.args["network_dim"] == (4, "ss_network_dim") and facts.args["network_alpha"][0] == 4.0
    assert facts.args["max_train_steps"][0] == 10 and facts.args["gradient_accumulation_steps"][0] == 2
    assert [(s["image_dir"], s["num_repeats"], s["is_reg"]) for s in facts.subsets] == [
        ("subset_a", 2, False), ("subset_b", 1, False), ("reg", 1, True)]
    assert facts.base_model == {"name": "sdxl_random_fp16.safetensors", "hash": "5e8bb4e2",
                                "sha256": "76b639c0d3793cd13e5a1819903e34baff37e5851e22df4606ee7087433985cd"}
    assert facts.progress["steps"] == 10 and facts.progress["epochs"] == 2
    assert facts.trains_text_encoder is False


def test_dataset_dirs_are_used_when_there_is_no_datasets_entry():
    meta = {"ss_dataset_dirs": json.dumps({"10_ohwx": {"n_repeats": 10, "img_count": 12}}),
            "ss_reg_dataset_dirs": json.dumps({"1_woman": {"n_repeats": 1, "img_count": 40}}),
            "ss_resolution": "(1024, 1024)", "ss_batch_size_per_device": "2", "ss_text_encoder_lr": "[5e-05, 5e-05]",
            "ss_network_args": json.dumps({"conv_dim": "8", "algo": "locon"})}
    facts = facts_from_metadata(meta)
    assert [(s["image_dir"], s["num_repeats"], s["is_reg"]) for s in facts.subsets] == [
        ("10_ohwx", 10, False), ("1_woman", 1, True)]
    assert facts.dataset["resolution"][0] == (1024, 1024) and facts.dataset["batch_size"][0] == 2
    assert facts.args["text_encoder_lr"][0] == [5e-05, 5e-05]
    assert facts.args["network_args"][0] == ["conv_dim=8", "algo=locon"]
    assert facts.trains_text_encoder is None


def test_parse_value_and_optimizer_strings():
    assert [parse_value(text) for text in ("None", "True", "1e-4", "[0.1]", "(unknown)")] == [
        None, True, 1e-4, [0.1], "(unknown)"]
    assert optimizer_from_metadata("bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.1,betas=(0.9, 0.99))") == (
        "AdamW8bit", ["weight_decay=0.1", "betas=(0.9, 0.99)"])
    assert optimizer_from_metadata("prodigyopt.prodigy.Prodigy(decouple=True)") == ("Prodigy", ["decouple=True"])
    assert optimizer_from_metadata("torch.optim.sgd.SGD(nesterov=True,momentum=0.9)") == ("SGDNesterov", ["momentum=0.9"])
    assert optimizer_from_metadata("my.pkg.Fancy") == ("my.pkg.Fancy", [])


def test_notes_name_the_base_model_and_the_folders():
    notes = " ".join(read_source(SIMPLE).notes)
    assert "76b639c0d3793cd13e5a1819903e34baff37e5851e22df4606ee7087433985cd" in notes
    assert "subset_a (3 images x 2 repeats)" in notes and "step 10 of 10" in notes


def test_header_is_read_without_the_tensor_bytes(tmp_path):
    header = json.loads(CPU_RUN.read_text())
    path = as_safetensors(header, tmp_path / "lora.safetensors")
    with path.open("ab") as handle:
        handle.write(b"\0" * 1024)  # tensor data after the header is never parsed
    assert read_header(path)["__metadata__"]["ss_network_dim"] == "4"


@pytest.mark.parametrize("version, family", [("sd_v1", "Stable Diffusion 1.x"), ("flux1", "FLUX.1"),
                                             ("sd3", "SD3")])
def test_other_families_are_refused(version, family, tmp_path):
    header = {"__metadata__": {"ss_base_model_version": version, "ss_network_dim": "8"}}
    with pytest.raises(KohyaWrapError) as caught:
        read_source(as_safetensors(header, tmp_path / "x.safetensors"))
    assert family in caught.value.message


def test_lora_without_training_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(KohyaWrapError) as caught:
        read_source(as_safetensors({"__metadata__": {"format": "pt"}}, tmp_path / "x.safetensors"))
    assert "no sd-scripts training metadata" in caught.value.message


def test_config_from_header_gives_preset_sections():
    tables = config_from_header(json.loads(SIMPLE.read_text()))
    assert tables["network"]["network_dim"] == 4 and tables["optimizer"]["optimizer_type"] == "AdamW"
    assert tables["dataset"]["resolution"] == 256 and tables["dataset"]["batch_size"] == 2
    assert tables["training"]["max_train_steps"] == 10

"""Settings read from a resolved config, with sd-scripts' defaults where a preset leaves them out."""

from __future__ import annotations

from kohya_wrap.estimate.facts import TrainFacts, from_config


def test_facts_of_a_shipped_preset(preset_config):
    facts = from_config(preset_config("sdxl-style"))
    assert (facts.width, facts.height, facts.batch, facts.steps) == (1024, 1024, 2, 3000)
    assert facts.mixed_precision == "bf16" and facts.weight_dtype == "bf16" and facts.lora_dtype == "fp32"
    assert facts.gradient_checkpointing and facts.attention == "sdpa" and facts.optimizer == "AdamW8bit"
    assert facts.cache_latents and facts.cache_text_encoder_outputs and not facts.train_text_encoder
    assert facts.network_dim == 32 and facts.save_every_n_steps == 500 and facts.target_vram_gb == 24


def test_overrides_reach_the_facts(preset_config):
    facts = from_config(preset_config("sdxl-style", "dataset.resolution=[768, 512]", "network.network_dim=8",
                                      "training.full_bf16=true", "network.network_args=['conv_dim=4']"))
    assert (facts.width, facts.height, facts.network_dim, facts.lora_dtype) == (768, 512, 8, "bf16")
    assert dict(facts.network_args) == {"conv_dim": "4"}


def test_sd_scripts_defaults_fill_an_empty_config():
    facts = from_config({})
    assert facts.mixed_precision == "no" and facts.weight_dtype == "fp32" and facts.optimizer == "AdamW"
    assert facts.network_dim == 4 and facts.attention == "none" and facts.train_text_encoder and facts.steps == 1600


def test_epochs_make_the_step_count_unknown_and_say_so():
    facts = from_config({"training": {"max_train_epochs": 10}})
    assert facts.steps is None and any("max_train_epochs" in note for note in facts.notes)


def test_caching_text_encoder_outputs_means_the_encoders_are_not_trained():
    facts = from_config({"training": {"cache_text_encoder_outputs": True}})
    assert not facts.train_text_encoder


def test_key_changes_with_a_setting_and_not_with_notes():
    base = TrainFacts()
    assert base.key() == TrainFacts(notes=("x",)).key()
    assert base.key() != base.with_changes(batch=2).key()


def test_settings_the_trace_approximates_are_noted():
    facts = from_config({"model": {"xformers": True}, "network": {"network_module": "lycoris.kohya"}})
    assert facts.attention == "xformers" and facts.network_module == "lycoris.kohya"
    assert any("xformers" in note for note in facts.notes) and any("lycoris.kohya" in note for note in facts.notes)

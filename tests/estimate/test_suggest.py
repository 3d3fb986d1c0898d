"""Suggestions for a run that does not fit: each change's predicted effect, cheapest first."""

from __future__ import annotations

import pytest

from kohya_wrap.estimate import memory, suggest
from kohya_wrap.estimate.facts import from_config
from kohya_wrap.estimate.gpus import generic, lookup
from kohya_wrap.estimate.predict import predict


def analytic(facts_list):
    return [memory.analytic_profile(facts) for facts in facts_list]


def _suggest(config, gpu):
    facts = from_config(config)
    base = predict(facts, memory.analytic_profile(facts), gpu)
    return base, suggest.suggestions(facts, config, base, gpu, analytic)


def test_a_run_that_fits_gets_no_suggestions(preset_config):
    base, found = _suggest(preset_config("sdxl-style"), lookup("4090"))
    assert base.verdict == "fits" and found == []


def test_each_suggestion_states_the_effect_the_changed_config_really_has(preset_config):
    config = preset_config("sdxl-h100")  # batch 8 at 1024 px without checkpointing
    base, found = _suggest(config, lookup("4090"))
    assert base.verdict == "does_not_fit"
    by_change = {item.change.split(" (")[0]: item for item in found}
    checkpointing = by_change["gradient checkpointing"]
    changed = from_config(preset_config("sdxl-h100", *checkpointing.overrides))
    assert changed.gradient_checkpointing
    again = predict(changed, memory.analytic_profile(changed), lookup("4090"))
    assert checkpointing.peak_vram_gib == pytest.approx(again.peak_vram_gib)
    assert checkpointing.saves_gib == pytest.approx(base.peak_vram_gib - again.peak_vram_gib)
    assert checkpointing.verdict == "fits" and checkpointing.s_per_it > base.s_per_it  # recomputation costs time
    eight_bit = by_change["8-bit optimizer state"]
    assert 0 < eight_bit.saves_gib < 1 and eight_bit.overrides == ["optimizer.optimizer_type=AdamW8bit"]
    assert found[0].verdict == "fits"  # changes that fit on their own come first


def test_batch_one_with_accumulation_keeps_the_effective_batch(preset_config):
    config = preset_config("sdxl-h100")
    _, found = _suggest(config, lookup("4090"))
    item = next(s for s in found if s.change.startswith("batch 1"))
    changed = from_config(preset_config("sdxl-h100", *item.overrides))
    assert (changed.batch, changed.grad_accum) == (1, 8)


def test_when_no_single_change_fits_the_cumulative_set_is_offered(preset_config):
    config = preset_config("sdxl-character")  # trains the text encoders, batch 1, checkpointing already on
    base, found = _suggest(config, generic(7))
    assert base.verdict == "does_not_fit"
    combined = found[-1]
    assert " + " in combined.change and combined.saves_gib > max(item.saves_gib for item in found[:-1])
    changed = from_config(preset_config("sdxl-character", *combined.overrides))
    assert changed.cache_text_encoder_outputs and changed.fp8_base and not changed.train_text_encoder


def test_override_keys_name_the_section_the_config_already_uses():
    config = {"advanced": {"gradient_checkpointing": False}}
    assert suggest.section_of(config, "gradient_checkpointing") == "advanced"
    assert suggest.section_of({}, "gradient_checkpointing") == "training"
    assert suggest.section_of({}, "fp8_base") == "model"


def test_a_change_the_trace_says_costs_memory_is_left_out(preset_config):
    config = preset_config("sdxl-h100")

    def fp8_costs_memory(facts_list):  # as traced: without checkpointing, autocast keeps bf16 copies of fp8 weights
        found = analytic(facts_list)
        for facts, profile in zip(facts_list, found):
            if facts.fp8_base:
                profile.peak_bytes += 4 * memory.GIB
        return found

    facts = from_config(config)
    base = predict(facts, memory.analytic_profile(facts), lookup("4090"))
    found = suggest.suggestions(facts, config, base, lookup("4090"), fp8_costs_memory)
    assert found and not any("fp8" in item.change for item in found)
    assert all(item.saves_gib > 0 for item in found)

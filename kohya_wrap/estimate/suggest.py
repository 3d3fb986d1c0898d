"""The cheapest config changes that make a run fit, each with its predicted effect on memory and speed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kohya_wrap.config.rules import CAPTION_CHANGERS
from kohya_wrap.estimate import memory
from kohya_wrap.estimate.facts import TrainFacts
from kohya_wrap.estimate.gpus import Gpu
from kohya_wrap.estimate.predict import FITS, Estimate, Suggestion, predict

DEFAULT_SECTIONS = {"cache_text_encoder_outputs": "training", "network_train_unet_only": "network",
                    "cache_latents": "training", "optimizer_type": "optimizer", "gradient_checkpointing": "training",
                    "gradient_accumulation_steps": "training", "fp8_base": "model"}
MIN_SAVING_GIB = 0.05
EIGHT_BIT = {"adamw": "AdamW8bit", "pagedadamw": "PagedAdamW8bit", "pagedadamw32bit": "PagedAdamW8bit",
             "lion": "Lion8bit", "sgdnesterov": "SGDNesterov8bit"}


@dataclass(frozen=True)
class Candidate:
    change: str
    overrides: tuple[str, ...]
    facts: TrainFacts


def section_of(config: dict, key: str) -> str:
    """The section a key already sits in (an override must name it), else where kohya-wrap's presets put it."""
    for name, values in config.items():
        if isinstance(values, dict) and key in values and name not in ("meta", "limits", "launch", "platform"):
            return name
    return DEFAULT_SECTIONS.get(key, "training")


def _set(config: dict, key: str, value) -> str:
    text = "true" if value is True else "false" if value is False else str(value)
    return f"{section_of(config, key)}.{key}={text}"


def _switch_off(config: dict, keys) -> tuple[str, ...]:
    """dataset.KEY=false|0 for the dataset options that the caching it goes with does not allow."""
    dataset = config.get("dataset", {})
    return tuple(f"dataset.{key}={'false' if isinstance(dataset[key], bool) else 0}" for key in keys
                 if dataset.get(key))


def candidates(facts: TrainFacts, config: dict) -> list[Candidate]:
    """Changes in the order of what they cost: free caching first, then slower or lossier ones."""
    found = []
    if not facts.cache_text_encoder_outputs:
        off = _switch_off(config, CAPTION_CHANGERS)
        costs = (["stops training the text encoders"] if facts.train_text_encoder else []) + \
            [f"turns off {item.split('=')[0].split('.')[1]}" for item in off]
        what = f" ({', '.join(costs)})" if costs else ""
        found.append(Candidate(f"cache text-encoder outputs{what}",
                               (_set(config, "cache_text_encoder_outputs", True),
                                _set(config, "network_train_unet_only", True), *off),
                               facts.with_changes(cache_text_encoder_outputs=True, train_text_encoder=False)))
    if not facts.cache_latents:
        found.append(Candidate("cache latents (the VAE leaves the GPU)",
                               (_set(config, "cache_latents", True), *_switch_off(config, ("color_aug", "random_crop"))),
                               facts.with_changes(cache_latents=True)))
    short = facts.optimizer.rsplit(".", 1)[-1].lower().replace("_", "")
    if short in EIGHT_BIT:
        found.append(Candidate(f"8-bit optimizer state ({EIGHT_BIT[short]}, needs bitsandbytes)",
                               (_set(config, "optimizer_type", EIGHT_BIT[short]),),
                               facts.with_changes(optimizer=EIGHT_BIT[short])))
    if not facts.gradient_checkpointing:
        found.append(Candidate("gradient checkpointing (recomputes activations: slower)",
                               (_set(config, "gradient_checkpointing", True),),
                               facts.with_changes(gradient_checkpointing=True)))
    if facts.batch > 1:
        accum = facts.batch * facts.grad_accum
        found.append(Candidate(f"batch 1 with gradient accumulation {accum} (same effective batch)",
                               ("dataset.batch_size=1", _set(config, "gradient_accumulation_steps", accum)),
                               facts.with_changes(batch=1, grad_accum=accum)))
    if not (facts.fp8_base or facts.fp8_base_unet) and facts.weight_dtype != "fp32":
        found.append(Candidate("fp8 base model (U-Net weights in 8 bits; small quality cost)",
                               (_set(config, "fp8_base", True),), facts.with_changes(fp8_base=True)))
    return found


def _combined(chosen: list[Candidate]) -> Candidate:
    facts = chosen[-1].facts
    return Candidate(" + ".join(c.change.split(" (")[0] for c in chosen),
                     tuple(o for c in chosen for o in c.overrides), facts)


def _accumulate(found: list[Candidate], base: TrainFacts) -> list[Candidate]:
    """Each candidate applied on top of the ones before it: the cumulative path, cheapest first."""
    steps, facts = [], base
    for candidate in found:
        changes = {name: getattr(candidate.facts, name) for name in candidate.facts.__dataclass_fields__
                   if getattr(candidate.facts, name) != getattr(base, name)}
        facts = facts.with_changes(**changes)
        steps.append(Candidate(candidate.change, candidate.overrides, facts))
    return steps


def suggestions(facts: TrainFacts, config: dict, estimate: Estimate, gpu: Gpu,
                profiles: Callable[[list[TrainFacts]], list[memory.StepProfile]],
                price: float | None = None) -> list[Suggestion]:
    """For a run that is tight or does not fit: each change alone, then the cheapest set that fits together."""
    if estimate.verdict == FITS:
        return []
    found = candidates(facts, config)
    effects = [_effect(c, p, estimate, gpu, price) for c, p in zip(found, profiles([c.facts for c in found]))]
    helpful = [(c, e) for c, e in zip(found, effects) if e.saves_gib > MIN_SAVING_GIB]  # fp8 alone can cost memory
    results = [effect for _, effect in helpful]
    if any(r.verdict == FITS for r in results):
        return sorted(results, key=lambda r: r.verdict != FITS)
    path = _accumulate([candidate for candidate, _ in helpful], facts)
    for index, (candidate, profile) in enumerate(zip(path, profiles([c.facts for c in path]))):
        combined = predict(candidate.facts, profile, gpu, price)
        if combined.verdict == FITS or index == len(path) - 1:
            results.append(_effect(_combined(path[:index + 1]), profile, estimate, gpu, price))
            break
    return results


def _effect(candidate: Candidate, profile: memory.StepProfile, base: Estimate, gpu: Gpu,
            price: float | None) -> Suggestion:
    after = predict(candidate.facts, profile, gpu, price)
    return Suggestion(change=candidate.change, overrides=list(candidate.overrides), peak_vram_gib=after.peak_vram_gib,
                      saves_gib=base.peak_vram_gib - after.peak_vram_gib, s_per_it=after.s_per_it,
                      verdict=after.verdict, basis=after.basis["peak_vram_gib"].split(" step ")[0])

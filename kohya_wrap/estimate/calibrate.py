"""Refine an estimate with measured runs (plain dicts from the registry): same GPU and settings, else same GPU."""

from __future__ import annotations

import copy
import statistics

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.estimate.gpus import lookup
from kohya_wrap.estimate.predict import verdict

# Settings whose change changes s/it or peak memory (names of TrainFacts fields).
SPEED_FIELDS = ("width", "height", "batch", "grad_accum", "mixed_precision", "full_bf16", "full_fp16", "fp8_base",
                "gradient_checkpointing", "attention", "cache_latents", "cache_text_encoder_outputs",
                "train_text_encoder", "network_module", "network_dim", "optimizer")


def _gpu_key(name) -> str | None:
    if not name:
        return None
    try:
        return lookup(str(name)).key
    except KohyaWrapError:
        return None  # a GPU the table does not know cannot be compared with the prediction


def _facts_of(run: dict) -> dict:
    return run.get("facts") or run


def same_settings(run: dict, facts: dict) -> bool:
    """True when the run records every speed-relevant setting and each equals the prediction's."""
    recorded = _facts_of(run)
    return all(name in recorded and recorded[name] == facts.get(name) for name in SPEED_FIELDS)


def calibrate(prediction, runs: list[dict]):
    """A copy of PREDICTION whose s/it (and peak memory) come from RUNS on the same GPU where there are any.

    Each run is {"gpu": name, "s_per_it": measured, "facts": {TrainFacts fields}} (facts may also sit at the
    top level), optionally "peak_vram_gib" (measured) and "flops_per_step" (from the run's own estimate).
    Runs with the same settings give the median s/it; runs with other settings but known FLOPs give the
    GPU's measured efficiency, applied to this config's FLOPs.
    """
    estimate = copy.deepcopy(prediction)
    key = estimate.gpu["key"]
    on_gpu = [r for r in runs if _gpu_key(r.get("gpu")) == key and (r.get("s_per_it") or 0) > 0]
    same = [r for r in on_gpu if same_settings(r, estimate.facts)]
    if same:
        s_per_it = statistics.median(r["s_per_it"] for r in same)
        _apply_speed(estimate, s_per_it, f"calibrated from {len(same)} run{'s' if len(same) != 1 else ''} "
                                         f"on {estimate.gpu['name']} with the same settings (median)")
    else:
        _efficiency_from(estimate, [r for r in on_gpu if (r.get("flops_per_step") or 0) > 0])
    measured = [r["peak_vram_gib"] for r in same if (r.get("peak_vram_gib") or 0) > 0]
    if measured:
        estimate.peak_vram_gib = statistics.median(measured)
        estimate.memory_share = estimate.peak_vram_gib / estimate.gpu["memory_gib"]
        estimate.verdict = verdict(estimate.peak_vram_gib, estimate.gpu["memory_gib"])
        estimate.basis["peak_vram_gib"] = f"measured in {len(measured)} run{'s' if len(measured) != 1 else ''} " \
                                          "with the same settings (median)"
    return estimate


def _efficiency_from(estimate, runs: list[dict]) -> None:
    peak = estimate.gpu.get("bf16_tflops")
    if not runs or not peak:
        return
    per_run = [r["flops_per_step"] * (r.get("facts") or r).get("grad_accum", 1) / (r["s_per_it"] * peak * 1e12)
               for r in runs]
    efficiency = statistics.median(per_run)
    accum = estimate.facts.get("grad_accum", 1)
    s_per_it = estimate.flops_per_step * accum / (peak * 1e12 * efficiency)
    estimate.gpu["efficiency"] = efficiency
    _apply_speed(estimate, s_per_it, f"traced FLOPs / {peak:g} TFLOPS x {efficiency:.3f} efficiency calibrated "
                                     f"from {len(runs)} run{'s' if len(runs) != 1 else ''} on {estimate.gpu['name']} "
                                     "with other settings (median)")


def _apply_speed(estimate, s_per_it: float, basis: str) -> None:
    old = estimate.s_per_it
    parts = dict(estimate.time_parts_s)
    if parts and estimate.steps:
        parts["training_s"] = estimate.steps * s_per_it
        if "sampling_s" in parts and old:
            parts["sampling_s"] *= s_per_it / old  # the same GPU speed ratio applies to sampling
        estimate.time_parts_s = parts
        estimate.total_seconds = sum(parts.values())
        if estimate.hourly_usd is not None:
            estimate.cost_usd = estimate.total_seconds * estimate.hourly_usd / 3600
    estimate.s_per_it = s_per_it
    estimate.basis["s_per_it"] = basis

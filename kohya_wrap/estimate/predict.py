"""Combine a step profile, the optimizer, the GPU and the schedule into one Estimate with a basis per number."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kohya_wrap.estimate import memory
from kohya_wrap.estimate.facts import TrainFacts
from kohya_wrap.estimate.gpus import Gpu, default_price

TIGHT = 0.90  # above this share of the GPU's memory a run is "tight": fragmentation or a bigger bucket can OOM it
FITS, TIGHT_VERDICT, NO_FIT = "fits", "tight", "does_not_fit"
FP32_SLOWDOWN = 4.0  # fp32 (mixed_precision "no") runs far below the bf16 tensor peak; assumed 1/4
SAMPLE_STEPS, SAMPLE_CFG = 30, 2  # sd-scripts' sampler default: 30 steps, classifier-free guidance doubles the batch
SAVE_FIXED_S, WRITE_BYTES_PER_S = 2.0, 1e9
STARTUP_S = 90.0  # loading a 6.9 GB checkpoint and building the models; caching depends on the dataset


@dataclass
class Suggestion:
    """One change to the config and what the estimate says it does."""

    change: str
    overrides: list[str]
    peak_vram_gib: float
    saves_gib: float
    s_per_it: float | None
    verdict: str
    basis: str


@dataclass
class Estimate:
    """Predicted peak memory, speed, time and cost of a config on a GPU; basis[name] says where each came from."""

    gpu: dict
    facts: dict
    peak_vram_gib: float
    allocated_gib: float
    breakdown_gib: dict
    verdict: str
    memory_share: float
    flops_per_step: float
    s_per_it: float | None
    steps: int | None
    time_parts_s: dict
    total_seconds: float | None
    hourly_usd: float | None
    cost_usd: float | None
    basis: dict
    notes: list[str] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    trace_seconds: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def verdict(peak_gib: float, memory_gib: float) -> str:
    share = peak_gib / memory_gib
    if share > 1.0:
        return NO_FIT
    return TIGHT_VERDICT if share > TIGHT else FITS


def _memory(facts: TrainFacts, profile: memory.StepProfile) -> tuple[float, float, dict, str]:
    parts = memory.step_peak_bytes(facts, profile)
    breakdown = {f"weights_{name}": value / memory.GIB for name, value in profile.weights_bytes.items() if value}
    breakdown.update({name: parts[name] / memory.GIB for name in
                      ("activations_and_grads", "optimizer_state", "optimizer_step", "allocator_reserve", "cuda_context")})
    state = memory.optimizer_state(facts.optimizer)
    basis = (f"{profile.basis} step + {facts.optimizer} state ({state.note}: table) + "
             f"{memory.CUDA_CONTEXT_GIB} GiB CUDA context + {memory.ALLOCATOR_RESERVE:.0%} allocator reserve (assumed)")
    return memory.reported_peak_gib(parts), parts["allocated"] / memory.GIB, breakdown, basis


def seconds_per_step(facts: TrainFacts, flops: float, gpu: Gpu) -> tuple[float | None, str]:
    """s/it (one optimizer step = grad_accum micro-batches) from FLOPs and the GPU's effective throughput."""
    if gpu.effective_tflops is None:
        return None, f"not known: no throughput for {gpu.name} (pass --gpu NAME)"
    throughput = gpu.effective_tflops * 1e12
    slow = FP32_SLOWDOWN if facts.weight_dtype == "fp32" else 1.0
    s_per_it = facts.grad_accum * flops * slow / throughput
    basis = (f"{profile_flops(flops)} x {facts.grad_accum} micro-step(s) / ({gpu.bf16_tflops:g} TFLOPS bf16 "
             f"x {gpu.efficiency:.2f}{' / 4 for fp32' if slow > 1 else ''}): table, efficiency assumed, not calibrated")
    return s_per_it, basis


def profile_flops(flops: float) -> str:
    return f"{flops / 1e12:.1f} TFLOP"


def _time_parts(facts: TrainFacts, profile: memory.StepProfile, gpu: Gpu, s_per_it: float | None) -> dict:
    if s_per_it is None or facts.steps is None:
        return {}
    parts = {"training_s": facts.steps * s_per_it, "startup_s": STARTUP_S}
    if facts.sample_every_n_steps and facts.sample_prompts and gpu.effective_tflops:
        image_flops = profile.forward_flops / facts.batch * SAMPLE_STEPS * SAMPLE_CFG
        rounds = facts.steps // facts.sample_every_n_steps
        parts["sampling_s"] = rounds * facts.sample_prompts * image_flops / (gpu.effective_tflops * 1e12)
    if facts.save_every_n_steps:
        lora_bytes = profile.trainable_params * 2  # saved in fp16/bf16
        state_bytes = profile.trainable_params * 4 + memory.optimizer_bytes(facts, profile.trainable_params)[0]
        each = SAVE_FIXED_S + (lora_bytes + (state_bytes if facts.save_state else 0)) / WRITE_BYTES_PER_S
        parts["saving_s"] = (facts.steps // facts.save_every_n_steps + 1) * each
    return parts


def hourly_rate(facts: TrainFacts, gpu: Gpu, price: float | None) -> tuple[float | None, str]:
    if price is not None:
        return price * facts.gpu_count, f"--price {price:g} USD/h x {facts.gpu_count} GPU"
    if facts.gpu_hourly_usd is not None:
        return facts.gpu_hourly_usd * facts.gpu_count, f"limits.gpu_hourly_usd x {facts.gpu_count} GPU"
    found = default_price(gpu)
    if found is None:
        return None, f"no price for {gpu.name} (set limits.gpu_hourly_usd or pass --price)"
    return found[0] * facts.gpu_count, f"{found[1]} x {facts.gpu_count} GPU"


def predict(facts: TrainFacts, profile: memory.StepProfile, gpu: Gpu, price: float | None = None) -> Estimate:
    """The estimate for one config on one GPU, every number with its basis."""
    peak, allocated, breakdown, memory_basis = _memory(facts, profile)
    s_per_it, speed_basis = seconds_per_step(facts, profile.flops, gpu)
    estimate = Estimate(
        gpu={"key": gpu.key, "name": gpu.name, "memory_gib": gpu.memory_gib, "bf16_tflops": gpu.bf16_tflops,
             "efficiency": gpu.efficiency, "unified": gpu.unified},
        facts=facts.to_dict(), peak_vram_gib=peak, allocated_gib=allocated, breakdown_gib=breakdown,
        verdict=verdict(peak, gpu.memory_gib), memory_share=peak / gpu.memory_gib, flops_per_step=profile.flops,
        s_per_it=s_per_it, steps=facts.steps, time_parts_s={}, total_seconds=None, hourly_usd=None, cost_usd=None,
        basis={"peak_vram_gib": memory_basis, "flops_per_step": profile.basis, "s_per_it": speed_basis,
               "memory_gib": f"{gpu.name}: table" if gpu.bf16_tflops else "--vram"},
        notes=list(facts.notes), trace_seconds=profile.seconds)
    return retime(estimate, s_per_it, speed_basis, facts, profile, gpu, price)


def retime(estimate: Estimate, s_per_it: float | None, speed_basis: str, facts: TrainFacts,
           profile: memory.StepProfile, gpu: Gpu, price: float | None = None) -> Estimate:
    """The estimate with a new s/it: time parts, total and cost follow it."""
    parts = _time_parts(facts, profile, gpu, s_per_it)
    total = sum(parts.values()) if parts else None
    rate, rate_basis = hourly_rate(facts, gpu, price)
    estimate.s_per_it, estimate.time_parts_s, estimate.total_seconds = s_per_it, parts, total
    estimate.hourly_usd, estimate.cost_usd = rate, (total * rate / 3600 if total is not None and rate is not None else None)
    estimate.basis["s_per_it"] = speed_basis
    estimate.basis["total_seconds"] = ("steps x s/it + startup 90 s (assumed; latent caching not included) "
                                       "+ sampling and saving (table)"
                                       if total is not None else
                                       "not known: " + ("no s/it" if s_per_it is None else "no step count"))
    estimate.basis["cost_usd"] = f"total time x {rate_basis}" if estimate.cost_usd is not None else rate_basis
    return estimate

"""Memory and FLOP arithmetic of an SDXL LoRA step: weights, LoRA, optimizer state, allowances, analytic fallback."""

from __future__ import annotations

from dataclasses import dataclass, field

from kohya_wrap.estimate.facts import TrainFacts

GIB = 1024**3
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}

# Parameter counts of SDXL's parts as sd-scripts builds them (counted by the trace at the pinned commit).
UNET_PARAMS = 2_567_463_684
TEXT_ENCODER_PARAMS = 123_060_480 + 694_659_840  # CLIP ViT-L + OpenCLIP ViT-bigG
VAE_PARAMS = 83_653_863
# networks.lora: parameters per unit of rank, rank x sum(in + out) over the modules it wraps.
LORA_UNET_PER_RANK = 2_659_840  # Transformer2DModel linears
LORA_TE_PER_RANK = 12 * 18 * 768 + 32 * 18 * 1280  # CLIPAttention q/k/v/out + CLIPMLP fc1/fc2, both encoders

# Allowances on top of the tensors: what nvidia-smi shows beyond torch.cuda.max_memory_allocated().
# Typical values, not measured by this project (no GPU was available to it); registry runs refine them.
CUDA_CONTEXT_GIB = 0.75  # CUDA context, cuBLAS / cuDNN handles and workspaces
ALLOCATOR_RESERVE = 0.07  # caching allocator: blocks held but not in use (fragmentation)


@dataclass(frozen=True)
class OptimizerState:
    """State an optimizer keeps per trainable parameter: tensors like the parameter, plus fixed bytes."""

    like_param: float  # state tensors of the parameter's dtype
    fixed_bytes: float = 0.0  # quantised state, bytes per parameter
    step_copies: float = 0.0  # temporaries during step(), in parameter-sized copies
    note: str = ""


OPTIMIZERS = {
    "adamw": OptimizerState(2, step_copies=1, note="exp_avg + exp_avg_sq; foreach step makes one sqrt copy"),
    "adamw8bit": OptimizerState(0, 2.03, note="two 8-bit states + blockwise scales (bitsandbytes)"),
    "pagedadamw8bit": OptimizerState(0, 2.03, note="as AdamW8bit; paged state can spill to CPU"),
    "pagedadamw": OptimizerState(2, note="bitsandbytes paged AdamW"),
    "pagedadamw32bit": OptimizerState(0, 8.0, note="two fp32 states"),
    "lion": OptimizerState(1, note="one momentum state"),
    "lion8bit": OptimizerState(0, 1.02, note="one 8-bit state"),
    "pagedlion8bit": OptimizerState(0, 1.02, note="one 8-bit state, paged"),
    "sgdnesterov": OptimizerState(1, note="momentum buffer"),
    "sgdnesterov8bit": OptimizerState(0, 1.02, note="8-bit momentum buffer"),
    "prodigy": OptimizerState(4, note="exp_avg, exp_avg_sq, s and the initial weights p0"),
    "dadaptadam": OptimizerState(3, note="exp_avg, exp_avg_sq, s"),
    "dadaptation": OptimizerState(3, note="as DAdaptAdam"),
    "dadaptlion": OptimizerState(2, note="exp_avg, s"),
    "dadaptsgd": OptimizerState(2, note="s, z"),
    "adafactor": OptimizerState(0, note="factored second moment: rows + columns per matrix (see optimizer_bytes)"),
    "sgd": OptimizerState(0, note="plain SGD keeps no state"),
}
UNKNOWN_OPTIMIZER = OptimizerState(2, step_copies=1, note="unknown optimizer: assumed AdamW-like (two states)")


def optimizer_state(name: str) -> OptimizerState:
    short = name.rsplit(".", 1)[-1].lower().replace("_", "")
    return OPTIMIZERS.get(short, UNKNOWN_OPTIMIZER)


def optimizer_bytes(facts: TrainFacts, trainable_params: int) -> tuple[float, float]:
    """(state bytes, step-time temporary bytes) for the config's optimizer over the trainable parameters."""
    state = optimizer_state(facts.optimizer)
    per_param = BYTES[facts.lora_dtype]
    if state is OPTIMIZERS["adafactor"]:
        return trainable_params * 4.0 / max(facts.network_dim, 1), 0.0  # (r + n) floats per r x n matrix
    copies = 0.0 if facts.fused_optimizer else state.step_copies
    return trainable_params * (state.like_param * per_param + state.fixed_bytes), trainable_params * copies * per_param


def unet_dtype(facts: TrainFacts) -> str:
    return "fp8" if facts.fp8_base or facts.fp8_base_unet else facts.weight_dtype


def text_encoder_dtype(facts: TrainFacts) -> str:
    return "fp8" if facts.fp8_base and not facts.fp8_base_unet else facts.weight_dtype


def vae_dtype(facts: TrainFacts) -> str:
    return "fp32" if facts.no_half_vae else facts.weight_dtype


def text_encoders_on_gpu(facts: TrainFacts) -> bool:
    return facts.train_text_encoder or not facts.cache_text_encoder_outputs


def lora_params(facts: TrainFacts) -> int:
    per_rank = LORA_UNET_PER_RANK + (LORA_TE_PER_RANK if facts.train_text_encoder else 0)
    return facts.network_dim * per_rank


def megapixels(facts: TrainFacts) -> float:
    """Image area in units of 1024 x 1024."""
    return facts.width * facts.height / (1024 * 1024)


@dataclass
class StepProfile:
    """Memory and FLOPs of one training step: from the trace, or from the analytic model."""

    peak_bytes: float
    resident_bytes: float
    after_backward_bytes: float
    grad_bytes: float
    flops: float
    forward_flops: float
    trainable_params: int
    weights_bytes: dict = field(default_factory=dict)
    basis: str = "traced"
    seconds: float | None = None

    @classmethod
    def from_trace(cls, result: dict, basis: str = "traced") -> StepProfile:
        keys = ("peak_bytes", "resident_bytes", "after_backward_bytes", "grad_bytes", "flops", "forward_flops",
                "trainable_params", "weights_bytes", "seconds")
        return cls(**{key: result[key] for key in keys}, basis=basis)


# Analytic model, fitted to traces of sd-scripts 48d368fa (bf16, sdpa, rank 8-128, 512-1024 px, batch 1-2):
# activation bytes per image per 1024x1024 of area, and the extra of naive attention (grows with area^2).
ACT_PER_MPX = {True: 1.12e9, False: 8.8e9}  # by gradient checkpointing
NAIVE_ATTENTION_PER_MPX2 = {True: 1.78e9, False: 18.5e9}
FP32_ACTIVATION_FACTOR = {True: 1.9, False: 1.6}
VAE_ENCODE_PER_MPX = {"fp32": 2.70e9, "bf16": 1.35e9, "fp16": 1.35e9, "fp8": 1.35e9}
FORWARD_FLOPS = (6.23e12, 0.532e12, 5.67e9)  # per image: mpx * (a + b * mpx + c * rank)
STEP_FLOPS_FACTOR = {True: 3.18, False: 2.19}  # forward + (recompute) + backward, over forward
VAE_ENCODE_FLOPS_PER_MPX = 4.88e12


ANALYTIC = "analytic (fitted to traces at the pin; not traced for this config)"


def analytic_profile(facts: TrainFacts) -> StepProfile:
    """The step without a trace: the arithmetic above plus activations scaled from fitted traces."""
    gc, mpx, batch = facts.gradient_checkpointing, megapixels(facts), facts.batch
    trainable = lora_params(facts)
    weights = {"unet": UNET_PARAMS * BYTES[unet_dtype(facts)], "lora": trainable * BYTES[facts.lora_dtype],
               "text_encoders": TEXT_ENCODER_PARAMS * BYTES[text_encoder_dtype(facts)] if text_encoders_on_gpu(facts) else 0,
               "vae": 0 if facts.cache_latents else VAE_PARAMS * BYTES[vae_dtype(facts)]}
    resident = sum(weights.values())
    grads = trainable * BYTES[facts.lora_dtype]
    activations = ACT_PER_MPX[gc] * batch * mpx
    if facts.attention == "none":
        activations += NAIVE_ATTENTION_PER_MPX2[gc] * batch * mpx * mpx
    if facts.weight_dtype == "fp32":
        activations *= FP32_ACTIVATION_FACTOR[gc]
    cast_copies = trainable * 2 if facts.weight_dtype != "fp32" and facts.lora_dtype == "fp32" else 0
    unet_peak = activations + (grads if gc else cast_copies)
    vae_peak = 0 if facts.cache_latents else VAE_ENCODE_PER_MPX[vae_dtype(facts)] * batch * mpx
    a, b, c = FORWARD_FLOPS
    forward = batch * mpx * (a + b * mpx + c * facts.network_dim)
    vae_flops = 0 if facts.cache_latents else VAE_ENCODE_FLOPS_PER_MPX * batch * mpx
    return StepProfile(peak_bytes=resident + max(unet_peak, vae_peak), resident_bytes=resident,
                       after_backward_bytes=resident + grads, grad_bytes=grads,
                       flops=forward * STEP_FLOPS_FACTOR[gc] + vae_flops, forward_flops=forward + vae_flops,
                       trainable_params=trainable, weights_bytes=weights, basis=ANALYTIC)


def step_peak_bytes(facts: TrainFacts, profile: StepProfile) -> dict[str, float]:
    """Peak allocated bytes of a step and its parts: the traced peak, optimizer state and step temporaries."""
    state, step_temp = optimizer_bytes(facts, profile.trainable_params)
    held_grads = profile.grad_bytes if facts.grad_accum > 1 else 0.0  # grads live through the next forward
    during_step = max(profile.peak_bytes + held_grads, profile.after_backward_bytes + step_temp)
    allocated = during_step + state
    return {"allocated": allocated, "optimizer_state": state, "optimizer_step": step_temp,
            "activations_and_grads": profile.peak_bytes - profile.resident_bytes + held_grads,
            "allocator_reserve": allocated * ALLOCATOR_RESERVE, "cuda_context": CUDA_CONTEXT_GIB * GIB}


def reported_peak_gib(parts: dict[str, float]) -> float:
    """What nvidia-smi would show at the peak: allocated + allocator reserve + CUDA context."""
    return (parts["allocated"] + parts["allocator_reserve"] + parts["cuda_context"]) / GIB

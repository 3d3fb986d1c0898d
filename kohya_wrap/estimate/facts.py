"""The settings of a resolved config that decide memory and speed, with sd-scripts' defaults filled in."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

WRAPPER_SECTIONS = ("meta", "dataset", "launch", "limits", "platform")
WEIGHT_DTYPES = {"bf16": "bf16", "fp16": "fp16", "no": "fp32"}


@dataclass(frozen=True)
class TrainFacts:
    """What an estimate needs from a config: one value per setting, sd-scripts' default where unset."""

    width: int = 1024
    height: int = 1024
    batch: int = 1
    grad_accum: int = 1
    steps: int | None = 1600
    mixed_precision: str = "no"
    full_bf16: bool = False
    full_fp16: bool = False
    fp8_base: bool = False
    fp8_base_unet: bool = False
    gradient_checkpointing: bool = False
    attention: str = "none"  # sdpa | xformers | mem_eff | none
    cache_latents: bool = False
    cache_text_encoder_outputs: bool = False
    train_text_encoder: bool = True
    no_half_vae: bool = False
    network_module: str = "networks.lora"
    network_dim: int = 4
    network_alpha: float = 1.0
    network_args: tuple[tuple[str, str], ...] = ()
    optimizer: str = "AdamW"
    optimizer_args: tuple[str, ...] = ()
    token_chunks: int = 1
    sample_every_n_steps: int | None = None
    sample_prompts: int = 0
    save_every_n_steps: int | None = None
    save_state: bool = False
    gpu_hourly_usd: float | None = None
    gpu_count: int = 1
    target_vram_gb: float | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def weight_dtype(self) -> str:
        return WEIGHT_DTYPES.get(self.mixed_precision, "fp32")

    @property
    def lora_dtype(self) -> str:
        if self.full_bf16:
            return "bf16"
        return "fp16" if self.full_fp16 else "fp32"

    @property
    def fused_optimizer(self) -> bool:
        return any(arg.replace(" ", "").lower() == "fused=true" for arg in self.optimizer_args)

    def with_changes(self, **changes) -> TrainFacts:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["network_args"] = dict(self.network_args)
        data["optimizer_args"] = list(self.optimizer_args)
        data["notes"] = list(self.notes)
        return data

    def key(self) -> str:
        """A hash of every setting except notes: equal keys mean equal estimates."""
        data = self.to_dict()
        data.pop("notes")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _flat_args(config: dict) -> dict:
    flat: dict = {}
    for name, section in config.items():
        if name not in WRAPPER_SECTIONS and isinstance(section, dict):
            flat.update(section)
    return flat


def _size(resolution) -> tuple[int, int]:
    sizes = [resolution] if isinstance(resolution, int) else list(resolution)
    return int(sizes[0]), int(sizes[-1])


def _attention(args: dict) -> str:
    if args.get("mem_eff_attn"):
        return "mem_eff"
    if args.get("xformers"):
        return "xformers"
    return "sdpa" if args.get("sdpa") else "none"


def _network_args(values) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in values or []:
        key, _, value = str(item).partition("=")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _prompt_count(value) -> int:
    if isinstance(value, list):
        return len([line for line in value if str(line).strip()])
    return 1 if value else 0  # a prompt file: its lines are not read here, one prompt is assumed


def from_config(config: dict) -> TrainFacts:
    """TrainFacts from a resolved config's nested data (config.resolve's ResolvedConfig.data)."""
    args, dataset, limits = _flat_args(config), config.get("dataset", {}), config.get("limits", {})
    width, height = _size(dataset.get("resolution", 1024))
    notes = []
    steps = args.get("max_train_steps", 1600)
    if args.get("max_train_epochs"):
        steps = None
        notes.append("max_train_epochs is set: the step count depends on the dataset, so total time is not known")
    if isinstance(args.get("sample_prompts"), str):
        notes.append("sample_prompts is a file: one prompt per sampling round is assumed")
    if _attention(args) == "xformers":
        notes.append("xformers is traced as PyTorch's fused attention (flash / memory-efficient), the kind of kernel xformers runs")
    if (args.get("network_module") or "networks.lora") != "networks.lora":
        notes.append(f"{args['network_module']}: traced with its own create_network; the analytic fallback "
                     "counts networks.lora's parameters")
    cache_te = bool(args.get("cache_text_encoder_outputs"))
    return TrainFacts(
        width=width, height=height, batch=int(dataset.get("batch_size", 1)),
        grad_accum=int(args.get("gradient_accumulation_steps") or 1), steps=steps,
        mixed_precision=str(args.get("mixed_precision", "no")), full_bf16=bool(args.get("full_bf16")),
        full_fp16=bool(args.get("full_fp16")), fp8_base=bool(args.get("fp8_base")),
        fp8_base_unet=bool(args.get("fp8_base_unet")),
        gradient_checkpointing=bool(args.get("gradient_checkpointing")), attention=_attention(args),
        cache_latents=bool(args.get("cache_latents") or args.get("cache_latents_to_disk")),
        cache_text_encoder_outputs=cache_te,
        train_text_encoder=not (args.get("network_train_unet_only") or cache_te),
        no_half_vae=bool(args.get("no_half_vae")),
        network_module=str(args.get("network_module") or "networks.lora"),
        network_dim=int(args.get("network_dim") or 4), network_alpha=float(args.get("network_alpha") or 1.0),
        network_args=_network_args(args.get("network_args")),
        optimizer=str(args.get("optimizer_type") or "AdamW"),
        optimizer_args=tuple(str(a) for a in args.get("optimizer_args") or ()),
        token_chunks=max(1, int(args.get("max_token_length") or 75) // 75),
        sample_every_n_steps=args.get("sample_every_n_steps"), sample_prompts=_prompt_count(args.get("sample_prompts")),
        save_every_n_steps=args.get("save_every_n_steps"), save_state=bool(args.get("save_state")),
        gpu_hourly_usd=limits.get("gpu_hourly_usd"), gpu_count=int(limits.get("gpu_count", 1)),
        target_vram_gb=config.get("meta", {}).get("vram_gb"), notes=tuple(notes),
    )

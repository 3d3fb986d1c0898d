"""GPU table for estimates: memory, dense bf16 tensor peak, assumed training efficiency, default price."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.tomlcompat import TOMLDecodeError, loads

# Share of the dense bf16 tensor peak that SDXL LoRA training reaches: a starting point read off public
# speed reports (about 1.3-1.5 it/s for 1024 px, batch 1, checkpointing on an RTX 4090), not a measurement
# of this project. Registry runs replace it (see calibrate.py). Big data-centre parts fill less at batch 1.
EFFICIENCY = 0.20
EFFICIENCY_BIG = 0.15


@dataclass(frozen=True)
class Gpu:
    """One GPU model: memory as nvidia-smi reports it, dense bf16 tensor TFLOPS with fp32 accumulate."""

    key: str
    name: str
    memory_gib: float
    bf16_tflops: float | None
    efficiency: float | None = EFFICIENCY
    aliases: tuple[str, ...] = ()
    unified: bool = False
    note: str = ""
    price_keys: tuple[str, ...] = field(default=())

    @property
    def effective_tflops(self) -> float | None:
        if self.bf16_tflops is None or self.efficiency is None:
            return None
        return self.bf16_tflops * self.efficiency

    def to_dict(self) -> dict:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["effective_tflops"] = self.effective_tflops
        return data


# Dense (no sparsity) tensor throughput from NVIDIA's spec sheets and architecture whitepapers.
GPUS = (
    Gpu("rtx3090", "NVIDIA GeForce RTX 3090", 24.0, 71.0, aliases=("3090",), price_keys=("RTX 3090",),
        note="GA102; GeForce runs bf16 with fp32 accumulate at half the fp16-accumulate rate"),
    Gpu("rtx4090", "NVIDIA GeForce RTX 4090", 24.0, 165.2, aliases=("4090",), price_keys=("RTX 4090",),
        note="AD102; 165.2 dense with fp32 accumulate (330.3 with fp16 accumulate)"),
    Gpu("rtx5090", "NVIDIA GeForce RTX 5090", 31.8, 209.5, aliases=("5090",), price_keys=("RTX 5090",),
        note="GB202; 419 dense with fp16 accumulate (838 sparse), half that with fp32 accumulate"),
    Gpu("a4000", "NVIDIA RTX A4000", 16.0, 76.7, aliases=("rtx a4000",), note="GA104; 153.4 sparse"),
    Gpu("a5000", "NVIDIA RTX A5000", 24.0, 111.1, aliases=("rtx a5000",), note="GA102; 222.2 sparse"),
    Gpu("a6000", "NVIDIA RTX A6000", 48.0, 154.8, aliases=("rtx a6000",), price_keys=("A6000",),
        note="GA102; 309.7 sparse"),
    Gpu("rtx6000ada", "NVIDIA RTX 6000 Ada Generation", 48.0, 364.2, aliases=("rtx 6000 ada", "6000 ada"),
        price_keys=("RTX 6000 Ada",), note="AD102; 728.5 sparse"),
    Gpu("l4", "NVIDIA L4", 22.5, 121.0, aliases=(), price_keys=("L4",), note="AD104; 242 sparse; ECC on"),
    Gpu("l40s", "NVIDIA L40S", 45.0, 362.0, aliases=(), price_keys=("L40S",), note="AD102; 733 sparse; ECC on"),
    Gpu("a10", "NVIDIA A10", 22.5, 125.0, price_keys=("A10",), note="GA102; 250 sparse; ECC on"),
    Gpu("a10g", "NVIDIA A10G", 22.5, 70.0, aliases=("a10g",), price_keys=("A10",),
        note="AWS g5 variant of the A10 (which has 125); AWS's published tensor figure"),
    Gpu("a100-40gb", "NVIDIA A100 40GB", 40.0, 312.0, EFFICIENCY_BIG, aliases=("a100 40gb", "a100-sxm4-40gb", "a100 40"),
        price_keys=("A100",)),
    Gpu("a100-80gb", "NVIDIA A100 80GB", 80.0, 312.0, EFFICIENCY_BIG, aliases=("a100", "a100 80gb", "a100-sxm4-80gb"),
        price_keys=("A100 80GB",)),
    Gpu("h100-pcie", "NVIDIA H100 PCIe", 79.6, 756.0, EFFICIENCY_BIG, aliases=("h100 pcie",), price_keys=("H100",),
        note="1513 sparse"),
    Gpu("h100-sxm", "NVIDIA H100 80GB HBM3", 79.6, 989.4, EFFICIENCY_BIG, aliases=("h100", "h100 sxm", "h100 80gb hbm3"),
        price_keys=("H100",), note="SXM5; 1979 sparse"),
    Gpu("h200", "NVIDIA H200", 140.4, 989.4, EFFICIENCY_BIG, aliases=("h200 sxm",), price_keys=("H200",),
        note="same tensor cores as H100 SXM, 141 GB HBM3e"),
    Gpu("gb10", "NVIDIA GB10 (DGX Spark)", 119.2, 125.0, aliases=("dgx spark", "spark", "dgx-spark"), unified=True,
        price_keys=("GB10",), note="128 GB LPDDR5x shared with the CPU and OS; 1 PFLOP fp4 sparse, so about "
        "125 dense bf16 (derived, not published); 273 GB/s memory bandwidth limits it further"),
)

PRICES_FILE = "prices.toml"


def _normalise(text: str) -> str:
    text = text.lower().replace("nvidia", "").replace("geforce", "")
    return re.sub(r"[\s_]+", " ", text).strip()


def names() -> list[str]:
    return [gpu.key for gpu in GPUS]


def lookup(name: str) -> Gpu:
    """A GPU by key, alias or a driver's name ("NVIDIA GeForce RTX 4090"); KohyaWrapError when unknown."""
    wanted = _normalise(name)
    for gpu in GPUS:
        if wanted in {gpu.key, _normalise(gpu.name), *(_normalise(a) for a in gpu.aliases)}:
            return gpu
    by_length = sorted(((alias, gpu) for gpu in GPUS for alias in (gpu.key, *gpu.aliases)),
                       key=lambda item: -len(item[0]))
    for alias, gpu in by_length:
        if re.search(rf"(?<![a-z0-9]){re.escape(_normalise(alias))}(?![a-z0-9])", wanted):
            return gpu
    raise KohyaWrapError(f"Unknown GPU '{name}'",
                         hint="one of: " + ", ".join(names()) + "; or give its memory with --vram GB")


def generic(memory_gb: float) -> Gpu:
    """A GPU known only by its memory: fit can be judged, time cannot (no throughput)."""
    if memory_gb <= 0:
        raise KohyaWrapError(f"--vram must be a positive number of GB, not {memory_gb:g}")
    return Gpu(f"generic-{memory_gb:g}gb", f"a {memory_gb:g} GB GPU", float(memory_gb), None, None,
               note="memory only; pass --gpu NAME for a time estimate")


def with_efficiency(gpu: Gpu, efficiency: float) -> Gpu:
    return replace(gpu, efficiency=efficiency)


def _price_table() -> dict[str, float]:
    table: dict[str, float] = {}
    for path in (paths.templates_dir() / PRICES_FILE, paths.home() / PRICES_FILE):
        table.update(_read_prices(path))
    return table


def _read_prices(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    try:
        gpus = loads(path.read_text(encoding="utf-8")).get("gpus", {})
    except (OSError, TOMLDecodeError) as error:
        raise KohyaWrapError(f"Cannot read {path}: {error}", hint="fix the file or remove it") from None
    return {str(key): float(value) for key, value in gpus.items() if isinstance(value, (int, float))}


def default_price(gpu: Gpu) -> tuple[float, str] | None:
    """(USD per hour, where from) from prices.toml (shipped, then <home>/prices.toml) for this GPU."""
    table = _price_table()
    lowered = {key.lower(): value for key, value in table.items()}
    for key in gpu.price_keys:
        if key.lower() in lowered:
            return lowered[key.lower()], f"{PRICES_FILE} [gpus] \"{key}\""
    return None

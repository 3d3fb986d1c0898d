"""The one cost: a job's hourly rate (recorded, [limits], or the GPU price table) and cost between two times."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import ConfigError, ConfigIssue
from kohya_wrap.tomlcompat import TOMLDecodeError, loads

PRICES_FILE = "prices.toml"
# Settings that change seconds per optimizer step; learning rates, step counts, names do not.
SPEED_KEYS = (
    "resolution", "train_batch_size", "gradient_accumulation_steps", "network_module", "network_dim",
    "gradient_checkpointing", "mixed_precision", "full_bf16", "full_fp16", "fp8_base", "cache_latents",
    "cache_text_encoder_outputs", "network_train_unet_only", "xformers", "sdpa", "mem_eff_attn",
    "optimizer_type", "enable_bucket", "max_bucket_reso", "lowram", "num_processes",
)


@dataclass(frozen=True)
class Rate:
    """What a job costs per hour, and where that number came from."""

    usd_per_hour: float
    source: str


def _read_table(path: Path) -> dict[str, float]:
    try:
        data = loads(path.read_text(encoding="utf-8"))
    except (OSError, TOMLDecodeError) as error:
        raise ConfigError(issues=[ConfigIssue(str(path), f"cannot read price table: {error}")]) from None
    table = data.get("gpus", {})
    bad = [name for name, value in table.items() if not isinstance(value, (int, float)) or value < 0]
    if bad:
        issues = [ConfigIssue(f"gpus.{name}", "price must be a number >= 0", str(path)) for name in bad]
        raise ConfigError(issues=issues)
    return {name: float(value) for name, value in table.items()}


def load_prices(shipped: Path | None = None, override: Path | None = None) -> dict[str, float]:
    """Shipped prices, with the user's own file (if any) winning key by key."""
    table = _read_table(shipped or paths.templates_dir() / PRICES_FILE)
    override = override or paths.home() / PRICES_FILE
    if override.is_file():
        table.update(_read_table(override))
    return table


def price_for_gpu(gpu_name: str, table: dict[str, float]) -> tuple[str, float] | None:
    """The longest table key contained in the GPU name (case-insensitive), with its price."""
    name = gpu_name.lower()
    matches = [key for key in table if key.lower() in name]
    if not matches:
        return None
    key = max(matches, key=len)
    return key, table[key]


def hourly_rate(
    limits: dict, gpu_name: str | None, table: dict[str, float] | None = None
) -> Rate | None:
    """The job's cost per hour: [limits] gpu_hourly_usd, else the price table, times gpu_count."""
    count = int(limits.get("gpu_count") or 1)
    given = limits.get("gpu_hourly_usd")
    if given is not None:
        return Rate(float(given) * count, f"limits.gpu_hourly_usd = {given} x {count} GPU")
    if not gpu_name:
        return None
    found = price_for_gpu(gpu_name, table if table is not None else load_prices())
    if found is None:
        return None
    key, price = found
    return Rate(price * count, f"price table {key!r} = {price} USD/h x {count} GPU")


def job_rate(folder) -> Rate | None:
    """A job folder's rate: the one recorded when it started (registry.json), else [limits] and its GPU."""
    recorded = (folder.meta or {}).get("rate")
    if recorded and recorded.get("usd_per_hour") is not None:
        return Rate(float(recorded["usd_per_hour"]), recorded.get("source") or "recorded at start")
    return hourly_rate(folder.config.get("limits", {}), folder.gpu_name)


def cost_between(rate: Rate | float | None, start: float | None, end: float | None) -> float | None:
    """USD for the time from start to end at the rate; None when any of them is unknown."""
    if rate is None or start is None or end is None:
        return None
    usd_per_hour = rate.usd_per_hour if isinstance(rate, Rate) else float(rate)
    return max(0.0, float(end) - float(start)) * usd_per_hour / 3600.0


def billed_seconds(events: list[dict]) -> float | None:
    """Seconds from each launch (`started`) to its `exited` event (or the last event of a launch that has
    none): a resumed job bills each launch, never the time between them. A replayed log with no launch
    recorded bills the span of its events."""
    if not any(event.get("type") == "started" for event in events):
        times = [float(event["t"]) for event in events if event.get("t")]
        return max(times) - min(times) if times else None
    total, start, last = None, None, None
    for event in events:
        kind, t = event.get("type"), event.get("t")
        if not t:
            continue
        if kind == "started":
            if start is not None and last is not None:
                total = (total or 0.0) + max(0.0, last - start)
            start = float(t)
        elif kind == "exited" and start is not None:
            total = (total or 0.0) + max(0.0, float(t) - start)
            start = None
        last = float(t)
    if start is not None and last is not None:
        total = (total or 0.0) + max(0.0, last - start)
    return total


def cost_record(rate: Rate | None, seconds: float | None) -> dict | None:
    """summary.json's `cost` section: usd, usd_per_hour, hours and the rate's basis."""
    usd = cost_between(rate, 0.0, seconds)
    if usd is None:
        return None
    return {"usd": usd, "usd_per_hour": rate.usd_per_hour, "basis": rate.source, "hours": seconds / 3600}


def _leaves(value, out: dict) -> dict:
    for key, item in value.items():
        if isinstance(item, dict):
            _leaves(item, out)
        else:
            out.setdefault(key, item)
    return out


def speed_key(config: dict) -> str:
    """A hash of the config's speed-relevant settings, wherever in the sections they sit."""
    leaves = _leaves(config, {})
    picked = {key: leaves[key] for key in SPEED_KEYS if key in leaves}
    return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()[:16]


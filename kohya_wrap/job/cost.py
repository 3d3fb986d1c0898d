"""GPU price table (shipped templates/prices.toml, overridden by <home>/prices.toml) and hourly rates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import ConfigError, ConfigIssue
from kohya_wrap.tomlcompat import TOMLDecodeError, loads

PRICES_FILE = "prices.toml"


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

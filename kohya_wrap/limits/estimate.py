"""Pre-launch time and cost estimate from the s/it of earlier jobs, and the refusal when it is over a limit."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterable

from kohya_wrap.errors import LimitReached
from kohya_wrap.job.cost import SPEED_KEYS, speed_key

__all__ = ["SPEED_KEYS", "Estimate", "SpeedSample", "check_estimate", "estimate", "preflight", "speed_key"]

NO_HISTORY = "no history yet"


@dataclass(frozen=True)
class SpeedSample:
    """One finished job's mean seconds per step, on which GPU, with which speed-relevant settings."""

    s_per_it: float
    gpu: str | None
    speed_key: str | None


@dataclass(frozen=True)
class Estimate:
    seconds: float | None
    cost: float | None
    basis: str
    samples: int = 0

    @property
    def known(self) -> bool:
        return self.seconds is not None


def _sample(item) -> SpeedSample:
    return item if isinstance(item, SpeedSample) else SpeedSample(*item)


def estimate(
    total_steps: int,
    history: Iterable[SpeedSample | tuple],
    *,
    gpu: str | None = None,
    speed_key: str | None = None,
    hourly_usd: float | None = None,
) -> Estimate:
    """Median s/it of the closest earlier jobs (same GPU and settings, else same GPU) x steps."""
    samples = [s for s in map(_sample, history) if s.s_per_it and s.s_per_it > 0]
    same_gpu = [s for s in samples if s.gpu == gpu]  # None = no GPU: CPU runs are history for CPU runs
    same_config = [s for s in same_gpu if speed_key is not None and s.speed_key == speed_key]
    for group, what in ((same_config, "same settings"), (same_gpu, "other settings")):
        if group:
            s_per_it = statistics.median(s.s_per_it for s in group)
            seconds = s_per_it * total_steps
            cost = None if hourly_usd is None else seconds * hourly_usd / 3600.0
            basis = (f"{total_steps} steps x {s_per_it:.2f} s/it, median of {len(group)} earlier "
                     f"job{'s' if len(group) != 1 else ''} on {gpu or 'CPU'} ({what})")
            return Estimate(seconds, cost, basis, len(group))
    where = f" on {gpu or 'CPU'}"
    return Estimate(None, None, f"{NO_HISTORY}: no finished job{where} to measure from; "
                    "the cost and time guards watch the first minutes of this run instead")


def check_estimate(
    est: Estimate, *, max_cost_usd: float | None = None, max_hours: float | None = None,
    force: bool = False,
) -> list[str]:
    """Raise LimitReached when the estimate is over a limit (unless force); returns warnings."""
    over = []
    if max_cost_usd is not None and est.cost is not None and est.cost > max_cost_usd:
        over.append(f"estimated cost {est.cost:.2f} USD > limits.max_cost_usd {max_cost_usd:g} USD")
    if max_hours is not None and est.seconds is not None and est.seconds / 3600 > max_hours:
        over.append(f"estimated time {est.seconds / 3600:.2f} h > limits.max_hours {max_hours:g} h")
    if over and not force:
        raise LimitReached(
            "Refusing to start: " + "; ".join(over) + f" (basis: {est.basis})",
            hint="raise the limit, lower max_train_steps, or pass --over-limit to start anyway "
            "(the guard still stops the run at the limit)",
        )
    return [f"starting despite {text} (--over-limit)" for text in over]


def preflight(
    config: dict, total_steps: int | None, history: Iterable[SpeedSample | tuple], *,
    gpu_name: str | None = None, force: bool = False,
) -> tuple[Estimate, list[str]]:
    """Estimate a job from its config and earlier jobs, refusing (LimitReached) when over a limit."""
    from kohya_wrap.job.cost import hourly_rate

    limits = config.get("limits", {})
    rate = hourly_rate(limits, gpu_name)
    if not total_steps:
        return Estimate(None, None, "step count not known before launch"), []
    est = estimate(total_steps, history, gpu=gpu_name, speed_key=speed_key(config),
                   hourly_usd=rate.usd_per_hour if rate else None)
    warnings = check_estimate(est, max_cost_usd=limits.get("max_cost_usd"),
                              max_hours=limits.get("max_hours"), force=force)
    return est, warnings

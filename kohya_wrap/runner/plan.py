"""One limits plan for a job (pre-launch estimate + the guards that enforce [limits]), used by train,
queue add and the worker alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.cost import job_rate
from kohya_wrap.limits.estimate import Estimate, preflight
from kohya_wrap.limits.guards import MEASURE_STEPS, guards_for_limits


@dataclass
class LimitsPlan:
    """What was estimated before launch, what that warned about, and the guards for the run."""

    estimate: Estimate
    warnings: list[str] = field(default_factory=list)
    guards: list = field(default_factory=list)
    limited: bool = False

    @property
    def cost_guard(self):
        return next((guard for guard in self.guards if hasattr(guard, "describe")), None)

    def record(self, forced: bool) -> dict:
        """The estimate as registry.json keeps it for a queued job."""
        return {"seconds": self.estimate.seconds, "cost_usd": self.estimate.cost, "basis": self.estimate.basis,
                "warnings": self.warnings, "forced": forced}


def _history(registry) -> list:
    from kohya_wrap.registry.jobs import speed_history

    return speed_history(registry) if registry is not None else []


def estimate_job(registry, job_dir: Path, *, force: bool = False) -> LimitsPlan:
    """The pre-launch estimate only (no guards); raises LimitReached when over a limit and not forced."""
    folder = jobfolder.read(job_dir)
    steps = _leaf(folder.config, "max_train_steps")
    estimate, warnings = preflight(folder.config, steps, _history(registry), gpu_name=folder.gpu_name, force=force)
    return LimitsPlan(estimate=estimate, warnings=warnings, limited=_limited(folder.config))


def plan_limits(registry, job_dir: Path, *, force: bool = False, recorded: dict | None = None,
                queued: bool = False) -> LimitsPlan:
    """Estimate (or, for a queued job, take the one recorded when it was queued) and build the guards.

    With no estimate possible and no --force, the run's own first steps are the measurement: the guards
    then stop it as soon as the projection is over a limit. A job queued with no estimate at all (put in
    the queue by hand, not by `queue add`) is not measured: its guards stop it at the limits."""
    folder = jobfolder.read(job_dir)
    if not _limited(folder.config):
        return LimitsPlan(estimate=Estimate(None, None, "no [limits] set"), limited=False)
    if recorded:
        plan = LimitsPlan(estimate=Estimate(recorded.get("seconds"), recorded.get("cost_usd"),
                                            recorded.get("basis") or "recorded when queued"),
                          warnings=list(recorded.get("warnings") or []), limited=True)
        force = bool(recorded.get("forced"))
    elif queued:
        plan = LimitsPlan(estimate=Estimate(None, None, "queued without an estimate"), limited=True)
        force = True
    else:
        plan = estimate_job(registry, job_dir, force=force)
    rate = job_rate(folder)
    measure = MEASURE_STEPS if plan.estimate.seconds is None and not force else None
    plan.guards = guards_for_limits(folder.config.get("limits", {}), rate.usd_per_hour if rate else None,
                                    measure_steps=measure)
    return plan


def _limited(config: dict) -> bool:
    limits = config.get("limits", {})
    return limits.get("max_cost_usd") is not None or limits.get("max_hours") is not None


def _leaf(config: dict, key: str):
    """First value named key anywhere in the nested config (sections are for readability only)."""
    for value in config.values():
        if isinstance(value, dict):
            if key in value and not isinstance(value[key], dict):
                return value[key]
            found = _leaf(value, key)
            if found is not None:
                return found
    return config.get(key)

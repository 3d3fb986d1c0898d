"""One limits plan for a job (pre-launch estimate + the guards that enforce [limits]), used by train,
queue add and the worker alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.cost import job_rate
from kohya_wrap.limits.estimate import Estimate, check_estimate, preflight
from kohya_wrap.limits.guards import MEASURE_STEPS, guards_for_limits
from kohya_wrap.registry.rows import leaf


@dataclass
class LimitsPlan:
    """What was estimated before launch, what that warned about, and the guards for the run."""

    estimate: Estimate
    warnings: list[str] = field(default_factory=list)
    guards: list = field(default_factory=list)
    limited: bool = False
    prediction: object = None  # kohya_wrap.estimate's Estimate (peak VRAM, verdict) when the GPU is known

    @property
    def cost_guard(self):
        return next((guard for guard in self.guards if hasattr(guard, "describe")), None)

    def record(self, forced: bool) -> dict:
        """The estimate as registry.json keeps it for a queued job."""
        record = {"seconds": self.estimate.seconds, "cost_usd": self.estimate.cost, "basis": self.estimate.basis,
                  "warnings": self.warnings, "forced": forced}
        if self.prediction is not None:
            record["prediction"] = {"gpu": self.prediction.gpu.get("name"), "verdict": self.prediction.verdict,
                                    "peak_vram_gib": self.prediction.peak_vram_gib,
                                    "s_per_it": self.prediction.s_per_it, "basis": self.prediction.basis}
        return record


def _history(registry) -> list:
    from kohya_wrap.registry.jobs import speed_history

    return speed_history(registry) if registry is not None else []


def estimate_job(registry, job_dir: Path, *, force: bool = False, steps_done: int = 0) -> LimitsPlan:
    """The pre-launch estimate only (no guards); raises LimitReached when over a limit and not forced.

    Earlier runs with the same settings on the same GPU come first; without them, the prediction for the
    job's GPU (kohya-wrap estimate's model, calibrated by whatever runs there are) is the estimate. A resume
    estimates the steps left after STEPS_DONE."""
    folder = jobfolder.read(job_dir)
    steps = leaf(folder.config, "max_train_steps")
    left = max(int(steps) - steps_done, 0) if steps else steps
    history = _history(registry)
    estimate, _ = preflight(folder.config, left, history, gpu_name=folder.gpu_name, force=True)
    prediction = None
    if estimate.seconds is None and folder.gpu_name:
        prediction = predict(folder.config, folder.gpu_name, registry=registry, allow_trace=False)
        if prediction is not None and prediction.total_seconds:
            share = left / int(steps) if steps else 1.0
            estimate = Estimate(prediction.total_seconds * share, _times(prediction.cost_usd, share),
                                f"predicted for {prediction.gpu['name']}: {prediction.basis.get('s_per_it')}")
    limits = folder.config.get("limits", {})
    warnings = check_estimate(estimate, max_cost_usd=limits.get("max_cost_usd"), max_hours=limits.get("max_hours"),
                              force=force)
    plan = LimitsPlan(estimate=estimate, warnings=warnings, limited=_limited(folder.config))
    plan.prediction = prediction
    return plan


def _times(value, share: float):
    return None if value is None else value * share


def predict(config: dict, gpu, *, registry=None, price: float | None = None, allow_trace: bool = True,
            on_event=None):
    """kohya-wrap estimate's prediction for a config on a GPU (name or table entry), calibrated by the
    registry's finished runs on that GPU; None when the GPU is not in the table."""
    from kohya_wrap.errors import KohyaWrapError
    from kohya_wrap.estimate import gpus
    from kohya_wrap.estimate.calibrate import calibrate
    from kohya_wrap.estimate.make import make_estimate

    if isinstance(gpu, str):
        try:
            gpu = gpus.lookup(gpu)
        except KohyaWrapError:
            return None
    prediction = make_estimate(config, gpu, price=price, allow_trace=allow_trace, on_event=on_event)
    runs = measured_runs(registry)
    return calibrate(prediction, runs) if runs else prediction


def measured_runs(registry) -> list[dict]:
    """Finished runs as calibration input: GPU, mean s/it and the facts of their config."""
    if registry is None:
        return []
    from kohya_wrap.estimate.facts import from_config
    from kohya_wrap.registry.jobs import list_jobs

    runs = []
    for row in list_jobs(registry, statuses=["succeeded"], limit=500, check=False):
        if row.get("gpu_name") and row.get("mean_s_per_it") and isinstance(row.get("config"), dict):
            runs.append({"gpu": row["gpu_name"], "s_per_it": row["mean_s_per_it"],
                         "facts": _facts_dict(from_config(row["config"]))})
    return runs


def _facts_dict(facts) -> dict:
    from dataclasses import asdict, is_dataclass

    return asdict(facts) if is_dataclass(facts) else dict(facts)


def plan_limits(registry, job_dir: Path, *, force: bool = False, recorded: dict | None = None,
                queued: bool = False, steps_done: int = 0) -> LimitsPlan:
    """Estimate (or, for a queued job, take the one recorded when it was queued) and build the guards.

    With no estimate possible and no --over-limit, the run's own first steps are the measurement: the guards
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
        plan = estimate_job(registry, job_dir, force=force, steps_done=steps_done)
    rate = job_rate(folder)
    measure = MEASURE_STEPS if plan.estimate.seconds is None and not force else None
    plan.guards = guards_for_limits(folder.config.get("limits", {}), rate.usd_per_hour if rate else None,
                                    measure_steps=measure)
    return plan


def _limited(config: dict) -> bool:
    limits = config.get("limits", {})
    return limits.get("max_cost_usd") is not None or limits.get("max_hours") is not None

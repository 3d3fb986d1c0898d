"""Cost and time guards: pure decisions fed by run events and the clock, asked by the runner to stop."""

from __future__ import annotations

from dataclasses import dataclass

COST_LIMIT = "cost_limit"
TIME_LIMIT = "time_limit"
# With no earlier job to estimate from, the run itself is measured over this many steps; a
# projection over the limit then stops it, as a pre-launch estimate would have refused it.
MEASURE_STEPS = 3


@dataclass(frozen=True)
class StopRequest:
    """A guard's request to stop the run gracefully; `cause` becomes the job's cause."""

    cause: str
    message: str


class _RunClock:
    """What the guards need from the event stream: when the run began and how far it got."""

    def __init__(self, started_at: float | None = None):
        self.started_at = started_at
        self.step: dict | None = None
        self._first_step: int | None = None
        self._measured = False

    def observe(self, event: dict | None, now: float) -> None:
        if self.started_at is None:
            self.started_at = float(event["t"]) if event and "t" in event else now
        if event and event.get("type") == "started" and "t" in event:
            self.started_at = min(self.started_at, float(event["t"]))
        if event and event.get("type") == "step":
            self.step = event

    def measured_now(self, event: dict | None, steps: int | None) -> bool:
        """True once: at the step event `steps` steps after the first one seen."""
        if not steps or self._measured or not event or event.get("type") != "step":
            return False
        step = int(event.get("step") or 0)
        self._first_step = step if self._first_step is None else self._first_step
        self._measured = step - self._first_step >= steps
        return self._measured

    def elapsed(self, now: float) -> float:
        return 0.0 if self.started_at is None else max(0.0, now - self.started_at)

    def remaining_s(self, now: float) -> float | None:
        """Seconds of training left, from the latest step event (None before the first step)."""
        event = self.step
        if event is None:
            return None
        left = (event.get("total") or 0) - (event.get("step") or 0)
        s_per_it = event.get("s_per_it") or (1.0 / event["it_s"] if event.get("it_s") else None)
        if s_per_it is not None and event.get("total"):
            return max(0.0, left * float(s_per_it) - max(0.0, now - float(event.get("t", now))))
        if event.get("eta_s") is not None:
            return max(0.0, float(event["eta_s"]) - max(0.0, now - float(event.get("t", now))))
        return None


def _measured_message(what: str, steps: int) -> str:
    return (f"{what}, measured over the first {steps} steps (no earlier job to estimate from; "
            "start with --over-limit to run anyway)")


class CostGuard:
    """Stops the run when time x hourly rate reaches max_cost_usd (or, with measure_steps, as soon
    as the measured projection exceeds it)."""

    def __init__(self, max_cost_usd: float, gpu_hourly_usd: float, *, started_at: float | None = None,
                 measure_steps: int | None = None):
        if max_cost_usd <= 0:
            raise ValueError("max_cost_usd must be > 0")
        self.max_cost_usd = float(max_cost_usd)
        self.hourly_usd = float(gpu_hourly_usd)
        self.measure_steps = measure_steps
        self.clock = _RunClock(started_at)

    def cost(self, now: float) -> float:
        return self.clock.elapsed(now) * self.hourly_usd / 3600.0

    def projected(self, now: float) -> float | None:
        left = self.clock.remaining_s(now)
        return None if left is None else self.cost(now) + left * self.hourly_usd / 3600.0

    def check(self, event: dict | None, now: float) -> StopRequest | None:
        self.clock.observe(event, now)
        if self.clock.measured_now(event, self.measure_steps):
            projected = self.projected(now)
            if projected is not None and projected > self.max_cost_usd:
                return StopRequest(COST_LIMIT, _measured_message(
                    f"projected cost {projected:.2f} USD > max_cost_usd {self.max_cost_usd:g} USD",
                    self.measure_steps))
        cost = self.cost(now)
        if cost < self.max_cost_usd:
            return None
        return StopRequest(
            COST_LIMIT,
            f"cost limit reached: {cost:.4f} USD >= max_cost_usd {self.max_cost_usd:g} USD "
            f"({self.hourly_usd:g} USD/h for {self.clock.elapsed(now):.1f} s)",
        )

    def progress(self, now: float) -> dict:
        return {"cost_usd": self.cost(now), "projected_usd": self.projected(now),
                "max_cost_usd": self.max_cost_usd, "hourly_usd": self.hourly_usd}

    def describe(self, now: float) -> str:
        projected = self.projected(now)
        text = f"cost {self.cost(now):.2f}/{self.max_cost_usd:.2f} USD"
        return text if projected is None else f"{text} (projected {projected:.2f})"


class TimeGuard:
    """Stops the run when its wall time reaches max_hours (or, with measure_steps, as soon as the
    measured projection exceeds it)."""

    def __init__(self, max_hours: float, *, started_at: float | None = None, measure_steps: int | None = None):
        if max_hours <= 0:
            raise ValueError("max_hours must be > 0")
        self.max_s = float(max_hours) * 3600.0
        self.measure_steps = measure_steps
        self.clock = _RunClock(started_at)

    def check(self, event: dict | None, now: float) -> StopRequest | None:
        self.clock.observe(event, now)
        if self.clock.measured_now(event, self.measure_steps):
            projected = self.projected_s(now)
            if projected is not None and projected > self.max_s:
                return StopRequest(TIME_LIMIT, _measured_message(
                    f"projected time {projected / 3600:.2f} h > max_hours {self.max_s / 3600:g} h",
                    self.measure_steps))
        elapsed = self.clock.elapsed(now)
        if elapsed < self.max_s:
            return None
        return StopRequest(
            TIME_LIMIT, f"time limit reached: {elapsed / 3600:.3f} h >= max_hours {self.max_s / 3600:g} h"
        )

    def projected_s(self, now: float) -> float | None:
        left = self.clock.remaining_s(now)
        return None if left is None else self.clock.elapsed(now) + left

    def progress(self, now: float) -> dict:
        return {"elapsed_s": self.clock.elapsed(now), "projected_s": self.projected_s(now),
                "max_s": self.max_s}

    def describe(self, now: float) -> str:
        projected = self.projected_s(now)
        text = f"time {self.clock.elapsed(now) / 3600:.2f}/{self.max_s / 3600:g} h"
        return text if projected is None else f"{text} (projected {projected / 3600:.2f})"


class FlagGuard:
    """Stops the run once `raise_flag` has been called (a worker told to shut down, for example)."""

    def __init__(self, cause: str, message: str):
        self.request = StopRequest(cause, message)
        self.raised = False

    def raise_flag(self) -> None:
        self.raised = True

    def check(self, event: dict | None, now: float) -> StopRequest | None:
        return self.request if self.raised else None


def guards_for_limits(limits: dict, hourly_usd: float | None, *, measure_steps: int | None = None) -> list:
    """The guards a job's [limits] section asks for (hourly_usd from limits.prices.hourly_rate).
    measure_steps: set it (MEASURE_STEPS) when no estimate was possible before launch and the user
    did not pass --over-limit: the run's own first steps then decide."""
    from kohya_wrap.errors import ConfigError, ConfigIssue

    guards: list = []
    max_cost = limits.get("max_cost_usd")
    if max_cost is not None:
        if hourly_usd is None:
            raise ConfigError(issues=[ConfigIssue(
                "limits.max_cost_usd",
                "a cost limit needs an hourly price: set limits.gpu_hourly_usd, or run on a GPU "
                "named in the price table (templates/prices.toml)",
            )])
        guards.append(CostGuard(float(max_cost), hourly_usd, measure_steps=measure_steps))
    if limits.get("max_hours") is not None:
        guards.append(TimeGuard(float(limits["max_hours"]), measure_steps=measure_steps))
    return guards


def job_guards(config: dict, gpu_name: str | None, *, measure_steps: int | None = None) -> list:
    """The guards for a job's config: its [limits], priced by gpu_hourly_usd or the price table."""
    from kohya_wrap.job.cost import hourly_rate

    limits = config.get("limits", {})
    rate = hourly_rate(limits, gpu_name)
    return guards_for_limits(limits, rate.usd_per_hour if rate else None, measure_steps=measure_steps)

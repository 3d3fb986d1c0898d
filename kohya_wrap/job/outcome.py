"""The outcome of a run, decided once (succeeded / failed / cancelled / stopped) from events, exit and outputs."""

from __future__ import annotations

import signal as signals
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Sequence

from kohya_wrap.job.causes import STATUSES, hint, status_of_stop
from kohya_wrap.job.events import Event, as_event

__all__ = ["STATUSES", "Outcome", "decide_outcome", "replace"]
KILL_SIGNALS = {signals.SIGTERM, signals.SIGKILL}


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as summary.json and the registry record it."""

    status: str
    cause: str | None
    message: str = ""
    hint: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stop_signals: list[str] = field(default_factory=list)
    step: int | None = None
    total: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Outcome":
        known = {name: data.get(name) for name in cls.__dataclass_fields__ if name in data}
        known["stop_signals"] = list(known.get("stop_signals") or [])
        return cls(**{"status": "failed", "cause": None, **known})


def decide_outcome(events: Iterable[Event | dict], *, final_output_exists: bool, exit_code: int | None,
                   signal: int | None, stop_requested: str | None = None,
                   nonfinite_outputs: Sequence[str] = ()) -> Outcome:
    """The exit status alone is not truth: sd-scripts exits 0 with no data, and with an all-NaN LoRA.

    succeeded only when the trainer exited cleanly, the final LoRA exists, every step ran and nothing went NaN.
    stop_requested: why the wrapper stopped the run, else None: a user stop (interrupted, terminated, user) makes it
    cancelled, "nan" failed, any other cause (a limit: cost_limit, time_limit) stopped.
    exit_code/signal None means unknown (a log replayed without its exit status).
    """
    decided = _decide([as_event(e) for e in events], final_output_exists, exit_code, signal, stop_requested,
                      nonfinite_outputs)
    return replace(decided, exit_code=exit_code, signal=signal)


def _decide(events, final_output_exists, exit_code, signal, stop_requested, nonfinite_outputs) -> Outcome:
    errors = [e for e in events if e.type == "error"]
    nan = next((e for e in errors if e.get("kind") == "nan"), None)
    done, total = _steps(events)
    if nan is not None:
        return Outcome("failed", "nan", nan.get("message", "the loss became NaN"), nan.get("hint") or hint("nan"))
    if nonfinite_outputs:
        return Outcome("failed", "nonfinite_output", "saved LoRA holds NaN/Inf weights: " + ", ".join(nonfinite_outputs),
                       hint("nonfinite_output"))
    clean = exit_code == 0 or (exit_code is None and signal is None)
    complete = total is not None and done is not None and done >= total
    if clean and final_output_exists and complete:
        return Outcome("succeeded", None, f"trained {done}/{total} steps and saved the final LoRA")
    if stop_requested == "nan":
        return Outcome("failed", "nan", "stopped because the loss became NaN", hint("nan"))
    if stop_requested:
        status = status_of_stop(stop_requested)
        return Outcome(status, stop_requested, f"{status} ({stop_requested}) at step {done or 0}/{total or '?'}"
                       + _how(exit_code, signal), hint(stop_requested))
    interrupted = next((e for e in errors if e.get("kind") == "interrupted"), None)
    if interrupted is not None or exit_code == 130 or signal == signals.SIGINT:
        return Outcome("cancelled", "interrupted", f"interrupted at step {done or 0}/{total or '?'}"
                       + _how(exit_code, signal), hint("interrupted"))
    known = _first_cause(errors)
    if known is not None and known.get("kind") != "killed":
        return Outcome("failed", known.get("kind"), known.get("message", ""), known.get("hint") or hint(known.get("kind")))
    if signal in KILL_SIGNALS or exit_code in (-9, -15, 137, 143) or known is not None:
        return Outcome("failed", "killed", f"killed at step {done or 0}/{total or '?'}" + _how(exit_code, signal),
                       hint("killed"))
    if not clean:
        return Outcome("failed", "unknown", f"the trainer failed{_how(exit_code, signal)} with no known error "
                                            "message", hint("unknown"))
    return _clean_but_incomplete(events, done, total)


def _clean_but_incomplete(events: list[Event], done: int | None, total: int | None) -> Outcome:
    overskip = next((e for e in events if e.type == "warning" and e.get("kind") == "resume_overskip"), None)
    if overskip is not None:
        return Outcome("failed", "no_training", overskip.get("message", ""),
                       "Resume without skip_until_initial_step (kohya-wrap continues the step count itself).")
    if not done:
        return Outcome("failed", "no_training", "the trainer exited normally but trained no step", hint("no_training"))
    if total is None or done < total:
        return Outcome("failed", "incomplete", f"the trainer exited normally after step {done} of {total or '?'}",
                       hint("incomplete"))
    return Outcome("failed", "no_output", f"trained {done}/{total} steps but the final LoRA file is missing",
                   hint("no_output"))


def _first_cause(errors: list[Event]) -> Event | None:
    """The error that names the cause: specific kinds first, then missing_file (often non-fatal), then unknown."""
    rank = {"missing_file": 1, "unknown": 2}
    return min(errors, key=lambda e: rank.get(e.get("kind"), 0)) if errors else None


def _steps(events: list[Event]) -> tuple[int | None, int | None]:
    steps = [e for e in events if e.type == "step" and e.get("step") is not None]
    done = max((e.get("step") for e in steps), default=None)
    total = next((e.get("total") for e in reversed(steps) if e.get("total")), None)
    if total is None:
        total = next((e.get("steps") for e in reversed(events) if e.type == "config" and e.get("steps")), None)
    return done, total


def _how(exit_code: int | None, signal: int | None) -> str:
    if signal:
        try:
            return f" (signal {signals.Signals(signal).name})"
        except ValueError:
            return f" (signal {signal})"
    return f" (exit status {exit_code})" if exit_code is not None else ""

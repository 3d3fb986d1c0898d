"""The one library call behind `kohya-wrap estimate`: config + GPU -> Estimate with suggestions."""

from __future__ import annotations

from collections.abc import Callable

from kohya_wrap.estimate import trace
from kohya_wrap.estimate.facts import from_config
from kohya_wrap.estimate.gpus import Gpu
from kohya_wrap.estimate.predict import Estimate, predict
from kohya_wrap.estimate.suggest import suggestions


def make_estimate(config: dict, gpu: Gpu, *, price: float | None = None, allow_trace: bool = True,
                  on_event: Callable[[dict], None] | None = None, suggest: bool = True) -> Estimate:
    """Trace (or, without a backend, model) the config's step, predict on GPU, add fixes when it does not fit."""
    facts = from_config(config)
    notices: list[str] = []

    def profiles(facts_list):
        found, said = trace.step_profiles(facts_list, on_event=on_event, allow_trace=allow_trace)
        notices.extend(note for note in said if note not in notices)
        return found

    estimate = predict(facts, profiles([facts])[0], gpu, price)
    if suggest:
        estimate.suggestions = suggestions(facts, config, estimate, gpu, profiles, price)
    estimate.notes = notices + estimate.notes
    return estimate

"""Cost and time guards decide from events and the clock alone."""

from __future__ import annotations

import pytest

from kohya_wrap.errors import ConfigError
from kohya_wrap.limits.guards import COST_LIMIT, TIME_LIMIT, CostGuard, FlagGuard, TimeGuard, guards_for_limits

T0 = 1_795_249_430.0


def test_cost_guard_stops_exactly_when_the_limit_is_reached():
    guard = CostGuard(0.05, 36.0)  # 36 USD/h = 0.01 USD/s, so 0.05 USD after 5 s
    assert guard.check({"type": "started", "t": T0}, T0) is None
    assert guard.check({"type": "tick", "t": T0 + 4.99}, T0 + 4.99) is None
    request = guard.check({"type": "tick", "t": T0 + 5.0}, T0 + 5.0)
    assert request is not None and request.cause == COST_LIMIT
    assert "0.0500 USD" in request.message and "36 USD/h" in request.message
    assert guard.cost(T0 + 5.0) == pytest.approx(0.05)


def test_cost_is_counted_from_the_started_event_even_when_first_seen_later():
    guard = CostGuard(1.0, 36.0)
    guard.check({"type": "tick", "t": T0 + 3}, T0 + 3)
    guard.check({"type": "started", "t": T0}, T0 + 3.1)
    assert guard.cost(T0 + 10) == pytest.approx(0.10)


def test_projection_uses_the_latest_step_rate():
    guard = CostGuard(10.0, 36.0)
    guard.check({"type": "started", "t": T0}, T0)
    guard.check({"type": "step", "t": T0 + 20, "step": 2, "total": 10, "s_per_it": 5.0}, T0 + 20)
    # 20 s so far + 8 steps x 5 s = 60 s -> 0.60 USD
    assert guard.projected(T0 + 20) == pytest.approx(0.60)
    assert guard.progress(T0 + 20)["cost_usd"] == pytest.approx(0.20)
    assert guard.describe(T0 + 20) == "cost 0.20/10.00 USD (projected 0.60)"


def test_projection_from_it_s_and_eta_when_no_s_per_it():
    guard = CostGuard(10.0, 3600.0)
    guard.check({"type": "started", "t": T0}, T0)
    guard.check({"type": "step", "t": T0 + 4, "step": 4, "total": 6, "it_s": 2.0}, T0 + 4)
    assert guard.projected(T0 + 4) == pytest.approx(4 + 1.0)
    eta_only = CostGuard(10.0, 3600.0)
    eta_only.check({"type": "started", "t": T0}, T0)
    eta_only.check({"type": "step", "t": T0 + 4, "step": 4, "eta_s": 10}, T0 + 4)
    assert eta_only.projected(T0 + 6) == pytest.approx(6 + 8)


def test_no_projection_before_the_first_step():
    guard = CostGuard(1.0, 36.0)
    guard.check({"type": "started", "t": T0}, T0)
    assert guard.projected(T0 + 1) is None
    assert guard.describe(T0 + 1) == "cost 0.01/1.00 USD"


def test_time_guard():
    guard = TimeGuard(0.5)
    assert guard.check({"type": "started", "t": T0}, T0) is None
    assert guard.check(None, T0 + 1799) is None
    request = guard.check(None, T0 + 1800)
    assert request.cause == TIME_LIMIT and "0.500 h" in request.message


@pytest.mark.parametrize("bad", [0, -1])
def test_guards_refuse_nonsense_limits(bad):
    with pytest.raises(ValueError):
        CostGuard(bad, 1.0)
    with pytest.raises(ValueError):
        TimeGuard(bad)


def test_flag_guard_fires_only_after_the_flag():
    guard = FlagGuard("requeued", "worker asked to stop")
    assert guard.check(None, T0) is None
    guard.raise_flag()
    assert guard.check(None, T0).cause == "requeued"


def test_guards_for_limits():
    assert guards_for_limits({}, None) == []
    kinds = [type(g) for g in guards_for_limits({"max_cost_usd": 5, "max_hours": 2}, 2.5)]
    assert kinds == [CostGuard, TimeGuard]
    with pytest.raises(ConfigError, match="limits.max_cost_usd"):
        guards_for_limits({"max_cost_usd": 5}, None)


def _steps(guard, rate_s: float, upto: int, total: int = 100):
    requests = []
    for step in range(1, upto + 1):
        t = T0 + step * rate_s
        requests.append(guard.check({"type": "step", "t": t, "step": step, "total": total, "s_per_it": rate_s}, t))
    return requests


def test_without_history_the_first_steps_decide_once():
    guard = CostGuard(1.0, 36.0, measure_steps=3)  # 100 steps x 10 s = 1000 s -> 10 USD projected
    guard.check({"type": "started", "t": T0}, T0)
    requests = _steps(guard, 10.0, 5)
    assert requests[:3] == [None, None, None]
    assert requests[3].cause == COST_LIMIT and "projected cost 10.00 USD > max_cost_usd 1 USD" in requests[3].message
    assert "first 3 steps" in requests[3].message and "--over-limit" in requests[3].message
    assert requests[4] is None  # decided once; the plain limit still applies later


def test_a_projection_under_the_limit_lets_the_run_go_on():
    guard = CostGuard(20.0, 36.0, measure_steps=3)
    guard.check({"type": "started", "t": T0}, T0)
    assert _steps(guard, 10.0, 6) == [None] * 6


def test_no_early_stop_unless_asked():
    guard = CostGuard(1.0, 36.0)
    guard.check({"type": "started", "t": T0}, T0)
    assert _steps(guard, 10.0, 6) == [None] * 6


def test_time_guard_projection():
    guard = TimeGuard(0.1, measure_steps=2)  # 360 s allowed, 100 x 10 s projected
    guard.check({"type": "started", "t": T0}, T0)
    requests = _steps(guard, 10.0, 3)
    assert requests[2].cause == TIME_LIMIT and "projected time 0.28 h > max_hours 0.1 h" in requests[2].message

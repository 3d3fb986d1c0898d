"""Pure numbers for a run's loss: TensorBoard points on the global step axis, first/min/last statistics."""

from __future__ import annotations

import math

LOSS_TAG = "loss/current"
AVERAGE_TAG = "loss/average"
EPOCH_TAG = "loss/epoch_average"


def global_steps(scalars: list[dict], events: list[dict]) -> list[dict]:
    """Scalar points on the job's global step axis. sd-scripts restarts its step counter when it resumes (and
    writes a new TensorBoard folder), so each point is shifted by the step_offset of the run that wrote it: the
    last `started` event before its wall time, else the `resumed` event of a replayed log. Epoch tags keep their
    x (the epoch number carries over). Idempotent: shifted points keep their logged step as local_step."""
    starts = sorted((e["t"], e.get("step_offset") or 0) for e in events if e.get("type") == "started" and e.get("t"))
    resumed = next((e.get("step_offset") or 0 for e in reversed(events) if e.get("type") == "resumed"), 0)
    out = []
    for point in scalars:
        if "local_step" in point:
            out.append(point)
            continue
        offset = resumed
        if starts:
            offset = next((off for t, off in reversed(starts) if t <= point["wall_time"]), starts[0][1])
        step = point["step"] if point["tag"] == EPOCH_TAG else point["step"] + offset
        out.append({**point, "step": step, "local_step": point["step"]})
    return out


def by_tag(scalars: list[dict]) -> dict[str, list[dict]]:
    """Scalar points grouped by tag, each in write order (wall time); every point kept, none keyed by step."""
    groups: dict[str, list[dict]] = {}
    for point in sorted(scalars, key=lambda p: p.get("wall_time") or 0.0):
        groups.setdefault(point["tag"], []).append(point)
    return groups


def as_number(value) -> float | None:
    """A loss/lr value as float; logs.events records non-finite values as text ("nan", "inf")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def clean_float(value):
    """A float fit for JSON: NaN/Inf become None (callers flag them separately)."""
    return float(value) if _finite(value) else None


def loss_stats(points: list[tuple[float, float]], source: str) -> dict | None:
    """first/min/last of a loss curve given as (step, value) in order; NaN/Inf counted, never the minimum."""
    if not points:
        return None
    points = [(step, as_number(value)) for step, value in points]
    finite = [(step, value) for step, value in points if _finite(value)]
    best = min(finite, key=lambda p: p[1]) if finite else (None, None)
    return {
        "first": clean_float(points[0][1]),
        "min": clean_float(best[1]),
        "min_step": best[0],
        "last": clean_float(points[-1][1]),
        "points": len(points),
        "nonfinite_points": len(points) - len(finite),
        "source": source,
    }


def loss_from_scalars(groups: dict[str, list[dict]]) -> dict | None:
    points = [(p["step"], p["value"]) for p in groups.get(LOSS_TAG, [])]
    stats = loss_stats(points, f"tensorboard {LOSS_TAG}")
    if stats is not None and groups.get(AVERAGE_TAG):
        stats["average_last"] = clean_float(groups[AVERAGE_TAG][-1]["value"])
    if stats is not None and groups.get(EPOCH_TAG):
        stats["epoch_averages"] = [
            {"epoch": p["step"], "value": clean_float(p["value"])} for p in groups[EPOCH_TAG]
        ]
    return stats


def loss_from_events(events: list[dict]) -> dict | None:
    """Loss from step events: the exact `loss` when the parser had it, else tqdm's rounded `avr_loss`."""
    steps = [e for e in events if e.get("type") == "step"]
    exact = [(e.get("step"), as_number(e["loss"])) for e in steps if e.get("loss") is not None]
    if exact:
        return loss_stats(exact, "log loss")
    rounded = [(e.get("step"), as_number(e["avr_loss"])) for e in steps if e.get("avr_loss") is not None]
    return loss_stats(dedupe(rounded), "log avr_loss (rounded, moving average)")


def dedupe(points: list[tuple]) -> list[tuple]:
    # tqdm redraws a step several times with the same postfix; keep a point only when something changed.
    out: list[tuple] = []
    for point in points:
        if not out or out[-1] != point:
            out.append(point)
    return out

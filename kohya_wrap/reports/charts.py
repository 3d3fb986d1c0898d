"""Which curves a report draws: loss, learning rate, epoch loss and speed, as Series built from the run's data."""

from __future__ import annotations

from kohya_wrap.reports import metrics, timing
from kohya_wrap.reports.svg import Series, finite_series, line_chart, stacked_bar

PHASES = ("load", "caching", "training", "sampling", "saving")


def loss_series(events: list[dict], groups: dict) -> tuple[list[Series], str]:
    """TensorBoard loss curves (every point, micro-batches included) or, without them, the log's loss."""
    tags = [tag for tag in (metrics.LOSS_TAG, metrics.AVERAGE_TAG) if groups.get(tag)]
    if tags:
        return [finite_series(tag, [(p["step"], p["value"]) for p in groups[tag]]) for tag in tags], "TensorBoard"
    steps = [e for e in events if e.get("type") == "step"]
    series = []
    exact = [(e["step"], metrics.as_number(e["loss"])) for e in steps if e.get("loss") is not None]
    if exact:
        series.append(finite_series("loss (log)", exact))
    rounded = metrics.dedupe([(e["step"], metrics.as_number(e["avr_loss"])) for e in steps if e.get("avr_loss") is not None])
    if rounded:
        series.append(finite_series("avr_loss (log, rounded)", rounded))
    return series, "training log"


def lr_series(groups: dict) -> list[Series]:
    return [finite_series(tag, [(p["step"], p["value"]) for p in points])
            for tag, points in groups.items() if tag.startswith("lr/")]


def epoch_series(groups: dict) -> list[Series]:
    points = groups.get(metrics.EPOCH_TAG)
    if not points:
        return []
    return [finite_series(metrics.EPOCH_TAG, [(p["step"], p["value"]) for p in points], markers=True)]


def speed_series(rows: list[dict], events: list[dict]) -> tuple[list[Series], str]:
    """Seconds per step against minutes since the first measured step; busy steps drawn apart."""
    if rows:
        start = rows[0]["end"] - rows[0]["seconds"]
        clean = [((r["end"] - start) / 60, r["seconds"]) for r in rows if not r["busy"]]
        busy = [((r["end"] - start) / 60, r["seconds"]) for r in rows if r["busy"]]
        series = [finite_series("training step", clean, lines=False, markers=True)]
        if busy:
            series.append(finite_series("step with sampling/saving", busy, lines=False, markers=True))
        return series, "minutes since the first timed step began"
    rates = [(e["step"], e["s_per_it"]) for e in events if e.get("type") == "step" and e.get("s_per_it")]
    return [finite_series("tqdm s/it (smoothed)", metrics.dedupe(rates), markers=True)], "step"


def all_charts(summary: dict, events: list[dict], scalars: list[dict]) -> dict[str, str]:
    """name -> SVG for every chart that has something to show (the phase bar is always there)."""
    groups = metrics.by_tag(metrics.global_steps(scalars, events))
    loss, loss_source = loss_series(events, groups)
    speed, speed_x = speed_series(timing.step_times(events, groups), events)
    charts = {}
    if any(series.points for series in loss):
        charts["loss"] = line_chart(loss, f"Loss per step ({loss_source})", "step", "loss", integer_x=True)
    lr = lr_series(groups)
    if lr:
        charts["lr"] = line_chart(lr, "Learning rate", "step", "lr", integer_x=True)
    epoch = epoch_series(groups)
    if epoch:
        charts["epoch_loss"] = line_chart(epoch, "Average loss per epoch", "epoch", "loss", integer_x=True)
    if any(series.points for series in speed):
        charts["speed"] = line_chart(speed, "Seconds per optimizer step", speed_x, "s / step", x_from_zero=True)
    phases = summary.get("phases") or {}
    charts["phases"] = stacked_bar([(name, phases.get(name) or 0.0) for name in PHASES])
    return charts

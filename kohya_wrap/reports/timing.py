"""Pure timing of a run: seconds per optimizer step (sampling/saving left out) and wall time per phase.

How phases are derived (all from event timestamps `t`, which the live follower stamps as lines arrive):
  load      first event (started) -> the `phase` event named caching (imports, dataset scan, model load)
  caching   that marker -> training start (latents and text-encoder outputs, LoRA setup)
  training  training start (`phase` training = sd-scripts' "running training" banner, else the `config`
            event, else the first `step` minus its tqdm elapsed time) -> last event, minus sampling and saving
  sampling  each `sample` event -> the next event that is not a warning (the sampler prints nothing else)
  saving    each `saved` event -> the next event that is not a warning ("saving checkpoint" is printed
            before the file is written; the next step redraw, save or exit comes after it)
When events carry no times (a plain log replayed later), training time falls back to the span of TensorBoard
wall times and the other phases are unknown (None); so do sampling and saving when some of their events have no time.
"""

from __future__ import annotations

import re
from itertools import pairwise
from statistics import mean, median

from kohya_wrap.reports.metrics import LOSS_TAG

_NOT_BOUNDARIES = {"warning"}


def step_times(events: list[dict], groups: dict[str, list[dict]]) -> list[dict]:
    """Seconds per optimizer step: one row per step with its end time and whether it included sampling/saving.

    TensorBoard wall times are preferred: sd-scripts logs a step after that step's sampling and saving, so the
    first point of step n closes step n. Without TensorBoard the first appearance of each step in the events is used.
    A sample or save belongs to the step whose interval holds its time; events without usable times are placed by
    their order in the log instead (see busy_steps_by_order).
    """
    runs = _step_ends_tensorboard(groups) or [_step_ends_events(events)]
    busy = [e for e in events if e.get("type") in ("sample", "saved")]
    comparable = _times_comparable(events, busy, [end for run in runs for end in run])
    by_order = None if comparable else busy_steps_by_order(events)
    rows = []
    for ends in runs:
        for (prev_step, prev_t), (step, t) in pairwise(ends):
            if step <= prev_step:
                continue
            if by_order is None:
                dirty = any(prev_t < e["t"] <= t for e in busy)
            else:
                dirty = any(s in by_order for s in range(prev_step + 1, step + 1))
            rows.append({"step": step, "end": t, "seconds": (t - prev_t) / (step - prev_step), "busy": dirty})
    return sorted(rows, key=lambda row: row["step"])


def _times_comparable(events: list[dict], busy: list[dict], ends: list[tuple[int, float]]) -> bool:
    """True when busy events carry times on the same clock as the step ends (a log replayed in another time
    zone, or one without times, is not)."""
    if any(e.get("t") is None for e in busy):
        return False
    first_seen = dict(_step_ends_events(events))
    gaps = sorted(abs(first_seen[step] - t) for step, t in ends if step in first_seen)
    return bool(gaps) and gaps[len(gaps) // 2] < 600


_STEP_FILE = re.compile(r"-step\d+\.safetensors$")
_EPOCH_FILE = re.compile(r"-\d{6}\.safetensors$")


def busy_steps_by_order(events: list[dict]) -> set[int]:
    """Steps whose interval may hold a sample or save, when event times cannot be used.

    sd-scripts prints the step update before that step's sampling and saving, and writes its TensorBoard point
    after them; at an epoch end it samples and saves after that point, so the time lands in the next step.
    A per-step save (-stepNNNNNNNN) belongs to its step; an epoch save to the step after its epoch's last one
    (from the config event, or the log order); samples may be either, so both are marked. The step a
    sample/state event carries is used when present: a split log replayed stdout-first has no useful order.
    """
    per_epoch = _steps_per_epoch(events)
    marked: set[int] = set()
    current = 0
    for event in events:
        kind = event.get("type")
        if kind == "step" and event.get("step") is not None:
            current = event["step"]
            continue
        if kind not in ("sample", "saved"):
            continue
        path = str(event.get("path") or "")
        step = event.get("step")
        if kind == "saved" and _STEP_FILE.search(path):
            marked.add(step if step is not None else current)
        elif kind == "saved" and (_EPOCH_FILE.search(path) or (event.get("what") == "state" and step is None)):
            end = event["epoch"] * per_epoch if per_epoch and event.get("epoch") else current
            marked.add(end + 1)
        elif kind == "saved" and event.get("final") and step is None:
            continue  # the final save comes after the last step: no step interval holds it
        else:
            base = step if step is not None else current
            marked.update((base, base + 1))
    return marked


def _steps_per_epoch(events: list[dict]) -> int | None:
    config = next((e for e in reversed(events) if e.get("type") == "config"), None) or {}
    batches, accum = config.get("batches_per_epoch"), config.get("grad_accum") or 1
    return -(-batches // accum) if batches else None


def _step_ends_tensorboard(groups: dict[str, list[dict]]) -> list[list[tuple[int, float]]]:
    """Per TensorBoard run (one per launch): the first wall time of each step, in step order.

    With gradient accumulation a step's first point is its syncing micro-batch (logged after that step's
    sampling and saving); later points at the same step belong to the next step's first micro-batches. A logged
    step 0 holds only a first micro-batch whose start is unknown, so it is no anchor; runs are kept apart so
    that no interval spans the pause between a run and its resume.
    """
    runs: dict[str, dict[int, float]] = {}
    for point in groups.get(LOSS_TAG, []):
        if point.get("local_step", point["step"]) > 0:
            runs.setdefault(point.get("run", ""), {}).setdefault(point["step"], point["wall_time"])
    return [sorted(first.items()) for first in runs.values()]


def _step_ends_events(events: list[dict]) -> list[tuple[int, float]]:
    first: dict[int, float] = {}
    for event in events:
        if event.get("type") == "step" and event.get("t") is not None and event.get("step") is not None:
            first.setdefault(event["step"], event["t"])
    return sorted(first.items())


def speed(rows: list[dict]) -> dict:
    clean = [row["seconds"] for row in rows if not row["busy"]]
    return {
        "mean_s_per_it": mean(clean) if clean else None,
        "median_s_per_it": median(clean) if clean else None,
        "steps_counted": len(clean),
        "steps_excluded": [row["step"] for row in rows if row["busy"]],
        "note": "seconds per optimizer step, excluding steps that included sampling or saving",
    }


PHASE_KEYS = ("load", "caching", "training", "sampling", "saving", "total")


def phases(events: list[dict], groups: dict[str, list[dict]]) -> dict:
    """Wall time per phase in seconds (see the module docstring), summed over the launches of a resumed job so
    that the pause between a run and its resume counts nowhere."""
    segments: list[list[dict]] = [[]]
    for event in events:
        if event.get("type") == "started" and segments[-1]:
            segments.append([])
        segments[-1].append(event)
    # a launch without times must not borrow the TensorBoard span of all launches
    parts = [_segment_phases(segment, groups if len(segments) == 1 else {}) for segment in segments]
    if len(parts) == 1:
        return parts[0]
    total = {key: None for key in PHASE_KEYS}
    for part in parts:
        for key in PHASE_KEYS:
            if part.get(key) is not None:
                total[key] = (total[key] or 0.0) + part[key]
    return {**total, "source": "events", "launches": len(parts)}


def _segment_phases(events: list[dict], groups: dict[str, list[dict]]) -> dict:
    timed = sorted((e for e in events if e.get("t") is not None), key=lambda e: e["t"])
    if len(timed) < 2:
        return _phases_from_tensorboard(groups)
    start, end = timed[0]["t"], timed[-1]["t"]
    if end <= start:
        return _phases_from_tensorboard(groups)
    marked_start = _marker(timed, "training") or _first_t(timed, "config")
    train_start = marked_start or _bar_start(timed) or end
    caching_start = _marker(timed, "caching")
    load_end = caching_start if caching_start is not None and caching_start <= train_start else train_start
    result = {"load": load_end - start, "caching": (train_start - load_end) if load_end != train_start else None,
              "training": None, "sampling": None, "saving": None, "total": end - start, "source": "events"}
    if marked_start is None and caching_start is None:
        result["load"] = None  # a log without timed markers: training start is only a guess from the bar
    # a sample or save without a time (stdout of a split log replayed later) leaves its phase unknown
    known = {kind: all(e.get("t") is not None for e in events if e.get("type") == kind) for kind in ("sample", "saved")}
    if known["sample"]:
        result["sampling"] = _busy_seconds(timed, "sample")
    if known["saved"]:
        result["saving"] = _busy_seconds(timed, "saved")
    if known["sample"] and known["saved"]:
        busy = _busy_seconds(timed, "sample", after=train_start) + _busy_seconds(timed, "saved", after=train_start)
        result["training"] = max(end - train_start - busy, 0.0)
    else:
        result["training"] = _phases_from_tensorboard(groups)["training"]
    # times estimated from a replayed log can undercount; the run lasted at least as long as its known parts
    known = sum(result[key] or 0.0 for key in ("load", "caching", "training", "sampling", "saving"))
    result["total"] = max(result["total"], known)
    return result


def _bar_start(timed: list[dict]) -> float | None:
    """When the training bar appeared: the first step's time minus the elapsed time tqdm showed for it."""
    first = next((e for e in timed if e.get("type") == "step"), None)
    if first is None:
        return None
    return first["t"] - (first.get("elapsed_s") or 0)


def _marker(timed: list[dict], name: str) -> float | None:
    return next((e["t"] for e in timed if e.get("type") == "phase" and e.get("name") == name), None)


def _first_t(events: list[dict], kind: str) -> float | None:
    return next((e["t"] for e in events if e.get("type") == kind), None)


def _busy_seconds(timed: list[dict], kind: str, after: float | None = None) -> float:
    total = 0.0
    for index, event in enumerate(timed):
        if event.get("type") != kind or (after is not None and event["t"] < after):
            continue
        following = next((e for e in timed[index + 1 :] if e.get("type") not in _NOT_BOUNDARIES), None)
        if following is not None:
            total += following["t"] - event["t"]
    return total


def _phases_from_tensorboard(groups: dict[str, list[dict]]) -> dict:
    times = [p["wall_time"] for points in groups.values() for p in points if p.get("wall_time")]
    span = (max(times) - min(times)) if len(times) > 1 else None
    return {"load": None, "caching": None, "training": span, "sampling": None, "saving": None,
            "total": None, "source": "tensorboard" if span is not None else None}

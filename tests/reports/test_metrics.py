"""Loss statistics, seconds per step and phase times, on the real runs' TensorBoard values."""

from __future__ import annotations

import math

import pytest

from kohya_wrap.reports import metrics, timing

from .helpers import expected_scalars, scalar_points


def groups(run: str) -> dict:
    return metrics.by_tag(scalar_points(run))


@pytest.mark.parametrize("run", ["main", "simple", "resume"])
def test_loss_stats_are_tensorboards_exact_values(run):
    points = expected_scalars(run)["loss/current"]
    values = [p["value"] for p in points]
    stats = metrics.loss_from_scalars(groups(run))
    assert stats["first"] == values[0]
    assert stats["last"] == values[-1]
    assert stats["min"] == min(values)
    assert stats["min_step"] == points[values.index(min(values))]["step"]
    assert stats["points"] == len(points)  # every micro-batch point, not one per step
    assert stats["average_last"] == expected_scalars(run)["loss/average"][-1]["value"]


def test_grad_accumulation_points_are_all_kept():
    by_tag = groups("simple")
    assert len(by_tag["loss/current"]) == 18  # 10 optimizer steps, 2 micro-batches each, one point per micro-batch
    assert [p["step"] for p in by_tag["loss/current"]] == [p["step"] for p in expected_scalars("simple")["loss/current"]]
    assert [p["step"] for p in by_tag["loss/epoch_average"]] == [1, 2]  # epochs, not steps


def test_nan_loss_is_counted_never_the_minimum():
    stats = metrics.loss_stats([(1, 1.2), (2, "nan"), (3, 1.1), (4, float("nan"))], "log loss")
    assert stats["min"] == 1.1 and stats["min_step"] == 3
    assert stats["nonfinite_points"] == 2
    assert stats["last"] is None and stats["first"] == 1.2


def test_loss_from_events_prefers_exact_loss_and_dedupes_redraws():
    events = [{"type": "step", "step": 1, "avr_loss": 1.13}, {"type": "step", "step": 1, "avr_loss": 1.13},
              {"type": "step", "step": 2, "avr_loss": 1.1}, {"type": "step", "step": 3, "avr_loss": 1.08}]
    stats = metrics.loss_from_events(events)
    assert (stats["first"], stats["min"], stats["last"], stats["points"]) == (1.13, 1.08, 1.08, 3)
    assert "rounded" in stats["source"]
    events.append({"type": "step", "step": 3, "loss": 1.0485962629318237})
    assert metrics.loss_from_events(events)["source"] == "log loss"


# The main run saved at steps 2, 4, 6 (-stepNNNNNNNN files) and sampled at steps 3 and 6 (README table):
# only step 5 ran without sampling or saving, at 6.2 s.
MAIN_BUSY = [
    {"type": "step", "step": 2}, {"type": "saved", "path": "/tmp/sdxl_run/output/shape_lora-step00000002.safetensors"},
    {"type": "step", "step": 3}, {"type": "sample", "step": 3},
    {"type": "step", "step": 4}, {"type": "saved", "path": "/tmp/sdxl_run/output/shape_lora-step00000004.safetensors"},
    {"type": "step", "step": 5},
    {"type": "step", "step": 6}, {"type": "sample", "step": 6},
    {"type": "saved", "path": "/tmp/sdxl_run/output/shape_lora-step00000006.safetensors"},
    {"type": "saved", "path": "/tmp/sdxl_run/output/shape_lora.safetensors", "final": True},
]


def test_mean_s_per_it_leaves_out_steps_with_sampling_or_saving_by_log_order():
    rows = timing.step_times([dict(e, t=None) for e in MAIN_BUSY], groups("main"))
    assert [r["step"] for r in rows] == [2, 3, 4, 5, 6]
    assert [r["step"] for r in rows if not r["busy"]] == [5]
    wall = {p["step"]: p["wall_time"] for p in expected_scalars("main")["loss/current"]}
    speed = timing.speed(rows)
    assert speed["mean_s_per_it"] == pytest.approx(wall[5] - wall[4])
    assert 6.0 < speed["mean_s_per_it"] < 6.4  # README: steady state about 6.2 s per step
    assert speed["steps_excluded"] == [2, 3, 4, 6]


def test_busy_steps_use_event_times_when_they_share_tensorboards_clock():
    wall = {p["step"]: p["wall_time"] for p in expected_scalars("main")["loss/current"]}
    # step updates are seen a little before the TensorBoard point; one save happens inside step 3's interval
    events = [{"type": "step", "step": s, "t": wall[s] - 0.5} for s in wall]
    events.append({"type": "saved", "path": "x-step00000002.safetensors", "step": 2, "t": wall[3] - 1.0})
    rows = timing.step_times(events, groups("main"))
    assert [r["step"] for r in rows if r["busy"]] == [3]


def test_event_times_in_another_clock_fall_back_to_log_order():
    wall = {p["step"]: p["wall_time"] for p in expected_scalars("main")["loss/current"]}
    shift = 3600.0  # a log replayed in another time zone
    events = [dict(e, t=(wall[e["step"]] if "step" in e and e["type"] == "step" else wall[6]) + shift)
              for e in MAIN_BUSY]
    rows = timing.step_times(events, groups("main"))
    assert [r["step"] for r in rows if not r["busy"]] == [5]


def test_epoch_end_saves_count_against_the_next_step():
    busy = timing.busy_steps_by_order([
        {"type": "step", "step": 5}, {"type": "saved", "path": "out/shape_lora-000001.safetensors"},
        {"type": "step", "step": 8}, {"type": "saved", "path": "out/shape_lora-step00000008.safetensors"},
    ])
    assert busy == {6, 8}


def test_first_tensorboard_point_of_a_step_closes_it_with_grad_accumulation():
    rows = timing.step_times([], groups("simple"))
    points = expected_scalars("simple")["loss/current"]
    first = {}
    for p in points:
        first.setdefault(p["step"], p["wall_time"])
    assert [r["step"] for r in rows] == list(range(2, 11))  # step 0 (a lone first micro-batch) is no anchor
    for row in rows:
        assert row["seconds"] == pytest.approx(first[row["step"]] - first[row["step"] - 1])


def test_phases_from_event_times():
    events = [
        {"type": "started", "t": 100.0},
        {"type": "phase", "name": "caching", "t": 130.0},
        {"type": "config", "t": 150.0},
        {"type": "sample", "step": 0, "t": 155.0},
        {"type": "warning", "message": "UserWarning", "t": 160.0},  # inside the sample, not its end
        {"type": "step", "step": 0, "t": 175.0},
        {"type": "step", "step": 1, "t": 185.0},
        {"type": "saved", "path": "a-step00000001.safetensors", "t": 186.0},
        {"type": "step", "step": 2, "t": 190.0},
        {"type": "saved", "path": "a.safetensors", "t": 196.0},
        {"type": "exited", "code": 0, "t": 199.0},
    ]
    ph = timing.phases(events, {})
    assert ph["load"] == 30.0 and ph["caching"] == 20.0
    assert ph["sampling"] == 20.0 and ph["saving"] == 4.0 + 3.0
    assert ph["training"] == pytest.approx(49.0 - 20.0 - 7.0)
    assert ph["total"] == 99.0
    assert math.isclose(ph["load"] + ph["caching"] + ph["training"] + ph["sampling"] + ph["saving"], ph["total"])


def test_phases_without_times_use_tensorboard_span():
    ph = timing.phases([{"type": "step", "step": 1, "t": None}], groups("main"))
    walls = [p["wall_time"] for pts in expected_scalars("main").values() for p in pts]
    assert ph["training"] == pytest.approx(max(walls) - min(walls))
    assert ph["load"] is None and ph["source"] == "tensorboard"

"""Every real captured run replayed through the parser: exact event sequences, TensorBoard agreement, chunking."""

from __future__ import annotations

import math
import random

import pytest

from kohya_wrap.logs.parse import LogParser
from kohya_wrap.logs.tensorboard import read_scalars

from .conftest import RICH_RUNS, RUNS, log_paths, merge_streams, parse_chunked, parse_run

OUT = "/tmp/sdxl_run/output/shape_lora"
OUT2 = "/tmp/sdxl_runs2/simple-log-mode/output/shape_lora"
MAIN_CONFIG = {"images": 18, "val_images": 0, "reg_images": 0, "batches_per_epoch": 18, "epochs": 1,
               "batch_size": 1, "grad_accum": 1, "steps": 6}
SIMPLE_CONFIG = {"images": 8, "val_images": 0, "reg_images": 1, "batches_per_epoch": 9, "epochs": 2,
                 "batch_size": 2, "grad_accum": 2, "steps": 10}

# Facts from the fixtures' READMEs (not from the parser): steps, saves, samples, epochs, config per run.
EXPECTED = {
    "main": {
        "steps": list(range(1, 7)), "total": 6, "epochs": [(1, 1)], "samples": [3, 6], "config": MAIN_CONFIG,
        "saves": [("model", f"{OUT}-step00000002.safetensors", 2, None), ("model", f"{OUT}-step00000004.safetensors", 4, None),
                  ("model", f"{OUT}-step00000006.safetensors", 6, None), ("model", f"{OUT}.safetensors", None, None)],
        "errors": [], "resumed": None,
    },
    "simple": {
        "steps": list(range(1, 11)), "total": 10, "epochs": [(1, 2), (2, 2)], "samples": [0, 5, 10],
        "config": SIMPLE_CONFIG,
        "saves": [("model", f"{OUT2}-000001.safetensors", None, 1), ("state", f"{OUT2}-000001-state", 5, 1),
                  ("state", f"{OUT2}-state", 10, 2), ("model", f"{OUT2}.safetensors", None, None)],
        "errors": [], "resumed": None,
    },
    "resume": {  # sd-scripts restarts its counter at 0 (tqdm 0/15 -> 5/15); the state holds 10 steps done
        "steps": list(range(11, 16)), "total": 15, "epochs": [(3, 3)], "samples": [10, 15],
        "config": {**SIMPLE_CONFIG, "epochs": 3, "steps": 15},
        "saves": [("state", "/tmp/sdxl_runs2/resume/output/shape_lora-state", 15, 3),
                  ("model", "/tmp/sdxl_runs2/resume/output/shape_lora.safetensors", None, None)],
        "errors": [], "resumed": {"state": f"{OUT2}-state", "epoch": 2, "step": 10, "step_offset": 10},
    },
    "resume_skip": {  # skip_until_initial_step over-skips: no epoch banner, bar 0/31 only, nothing trained
        "steps": [], "total": None, "epochs": [], "samples": [0], "config": {**SIMPLE_CONFIG, "epochs": 3, "steps": 15},
        "saves": [("state", "/tmp/sdxl_runs2/resume-skip/output/shape_lora-state", 1, 0),
                  ("model", "/tmp/sdxl_runs2/resume-skip/output/shape_lora.safetensors", None, None)],
        "errors": [], "resumed": {"state": f"{OUT2}-state", "epoch": 2, "step": 10, "step_offset": 0},
    },
}
EXPECTED["attempt1"] = EXPECTED["main"]


def of_type(events, kind):
    return [e.to_dict() for e in events if e.type == kind]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_run_gives_the_documented_event_sequence(name):
    events = parse_run(name)
    want = EXPECTED[name]
    steps = of_type(events, "step")
    assert [e["step"] for e in steps] == want["steps"]
    assert all(e["total"] == want["total"] for e in steps)
    assert [(e["epoch"], e["total"]) for e in of_type(events, "epoch")] == want["epochs"]
    assert [e["step"] for e in of_type(events, "sample")] == want["samples"]
    assert all(e["prompt"] == "shape, a red circle on a blue background, simple flat illustration"
               and e["seed"] == 1234 and e["width"] == 256 for e in of_type(events, "sample"))
    configs = of_type(events, "config")
    assert len(configs) == 1 and {k: v for k, v in configs[0].items() if k not in ("type", "t")} == want["config"]
    saves = [(e["what"], e["path"], e.get("step") if not e.get("final") else None, e.get("epoch"))
             for e in of_type(events, "saved")]
    assert saves == want["saves"]
    assert [e for e in of_type(events, "saved") if e.get("final")] == [
        e for e in of_type(events, "saved") if e["path"].endswith("/shape_lora.safetensors")]
    assert of_type(events, "error") == want["errors"]
    resumed = of_type(events, "resumed")
    assert ([{k: v for k, v in r.items() if k not in ("type", "t")} for r in resumed]
            == ([want["resumed"]] if want["resumed"] else []))


def test_warnings_of_the_main_run():
    warnings = [(e["kind"], e["message"]) for e in of_type(parse_run("main"), "warning")]
    assert warnings.count(("git_hash", "Failed to get git commit hash, using fallback")) == 4  # one per save
    assert ("no_reg_images", "no regularization images / 正則化画像が見つかりませんでした") in warnings
    assert sum(1 for kind, _ in warnings if kind == "python_warning") == 2  # torch UserWarning per sample


def test_resume_skip_variant_warns_that_nothing_trains():
    overskip = [e for e in of_type(parse_run("resume_skip"), "warning") if e["kind"] == "resume_overskip"]
    assert len(overskip) == 1 and "nothing will be trained" in overskip[0]["message"]


def tqdm_tolerance(shown: float) -> float:
    """tqdm prints postfix floats with 3 significant digits ('{:.3g}'): half a unit in the last place."""
    return 0.5 * 10 ** (math.floor(math.log10(abs(shown))) - 2)


@pytest.mark.parametrize("name", ["main", "attempt1", "simple", "resume"])
def test_step_losses_agree_with_tensorboard(name):
    events = parse_run(name)
    offset = next((e["step_offset"] for e in of_type(events, "resumed")), 0)
    points = [p for p in read_scalars(RUNS[name][2]) if p.tag == "loss/average"]
    # the value at a step is its last point: with accumulation the step's last micro-batch
    last = {p.step + offset: p.value for p in points}
    steps = of_type(events, "step")
    assert sorted(last) == [s for s in [0 + offset, *[e["step"] for e in steps]] if s in last]
    assert {s for s in last if s > offset} == {e["step"] for e in steps}
    for event in steps:
        exact = last[event["step"]]
        assert abs(event["avr_loss"] - exact) <= tqdm_tolerance(event["avr_loss"]), (event, exact)


@pytest.mark.parametrize("name", ["main", "attempt1"])
def test_step_times_track_tensorboard_wall_times(name):
    """Rich timestamps plus the bar's elapsed time place each step within seconds of TensorBoard's record."""
    wall = {p.step: p.wall_time for p in read_scalars(RUNS[name][2]) if p.tag == "loss/average"}
    events = parse_run(name)
    sampled = {e["step"] for e in of_type(events, "sample")}
    for event in of_type(events, "step"):
        if event["step"] in sampled:  # the bar's clock is paused while sampling; TensorBoard logs after it
            assert event["t"] <= wall[event["step"]], event
        else:
            assert abs(event["t"] - wall[event["step"]]) < 5, event


@pytest.mark.parametrize("name", sorted(RUNS))
def test_random_chunk_sizes_give_the_same_events(name):
    streams = [path.read_bytes() for path in log_paths(name)]
    reference = [e.to_dict() for e in parse_run(name)]
    for seed in range(3):
        assert [e.to_dict() for e in parse_chunked(streams, random.Random(seed))] == reference


def test_one_byte_at_a_time_splits_every_utf8_character_and_escape():
    streams = [path.read_bytes() for path in log_paths("main")]
    assert "学習開始".encode() in streams[0] and b"\x1b[A" in streams[1]
    events = parse_chunked(streams, random.Random(0), sizes=(1,))
    assert [e.to_dict() for e in events] == [e.to_dict() for e in parse_run("main")]


def _facts(events) -> dict:
    """What must not depend on how stdout and stderr interleave (times and order between streams may)."""
    keep = {"step": ("step", "total", "avr_loss", "s_per_it", "eta_s", "elapsed_s"),
            "saved": ("what", "path", "epoch"), "sample": ("step", "index", "prompt"), "error": ("kind", "message"),
            "warning": ("kind", "message"), "config": None, "epoch": ("epoch", "total"), "phase": ("name",)}
    facts: dict = {}
    for event in events:
        fields = keep.get(event.type, ())
        data = event.to_dict()
        row = tuple(sorted((k, v) for k, v in data.items() if k != "t")) if fields is None else tuple(
            data.get(k) for k in fields)
        facts.setdefault(event.type, []).append(row)
    facts["step"] = facts.get("step", [])  # in order
    return {k: (v if k == "step" else sorted(v, key=repr)) for k, v in facts.items()}


@pytest.mark.parametrize("name", RICH_RUNS)
def test_merged_stdout_and_stderr_give_the_same_events(name):
    stdout, stderr = (path.read_bytes() for path in log_paths(name))
    reference = _facts(parse_run(name))
    for seed in range(4):
        rng = random.Random(seed)
        merged = merge_streams(stdout, stderr, rng)
        assert _facts(parse_chunked([merged], rng)) == reference, seed


def test_live_feed_reports_each_step_when_the_bar_moves_on():
    """With live times, a step event carries the time of its step's last redraw, and progress is immediate."""
    data = log_paths("main")[1].read_bytes()
    first = data.index(b"steps:  17%")
    second = data.index(b"steps:  33%")
    end_of_step1 = data.index(b"avr_loss=1.13]", first) + len(b"avr_loss=1.13]")
    parser = LogParser()
    assert [e for e in parser.feed(data[:first], now=100.0) if e.type == "step"] == []
    assert [e for e in parser.feed(data[first:end_of_step1], now=200.0) if e.type == "step"] == []
    assert parser.progress["step"] == 1 and parser.progress["postfix"] == {"avr_loss": 1.13}
    end_of_first_step2_redraw = data.index(b"]", second) + 1
    step_events = [e for e in parser.feed(data[end_of_step1:end_of_first_step2_redraw], now=300.0)
                   if e.type == "step"]
    assert [(e.get("step"), e.get("avr_loss"), e.t) for e in step_events] == [(1, 1.13, 200.0)]

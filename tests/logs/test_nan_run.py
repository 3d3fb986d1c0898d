"""The real run that went NaN (one merged stdout+stderr log, as the runner records it): caught at once, and failed."""

from __future__ import annotations

import json
import math
import random

from kohya_wrap.job.outcome import decide_outcome
from kohya_wrap.logs.parse import LogParser, parse_files
from kohya_wrap.logs.tensorboard import read_scalars, with_tensorboard

from .conftest import FIXTURES, parse_chunked

NAN = FIXTURES / "sdxl-cpu-run-nan"
LOG = NAN / "train.log"


def test_the_merged_log_gives_steps_config_save_and_one_nan_error():
    events = [e.to_dict() for e in parse_files([LOG])]
    steps = [e for e in events if e["type"] == "step"]
    assert [(s["step"], s.get("avr_loss"), s.get("nonfinite")) for s in steps] == [
        (1, 1.13, None), (2, None, ["avr_loss"]), (3, None, ["avr_loss"])]
    errors = [e for e in events if e["type"] == "error"]
    assert [(e["kind"], e["message"]) for e in errors] == [("nan", "avr_loss is NaN at step 2")]
    assert "learning rate" in errors[0]["hint"]
    assert [e["steps"] for e in events if e["type"] == "config"] == [3]
    assert [(e["epoch"], e["total"]) for e in events if e["type"] == "epoch"] == [(1, 1)]
    assert [(e["path"], e.get("final")) for e in events if e["type"] == "saved"] == [
        ("/tmp/logs-nan-run/output/nan_lora.safetensors", True)]


def test_nan_is_reported_by_the_feed_that_completes_the_first_nan_redraw():
    data = LOG.read_bytes()
    end = data.index(b"avr_loss=nan]") + len(b"avr_loss=nan]")
    parser = LogParser()
    before = parser.feed(data[:end - 1], now=10.0)
    assert not [e for e in before if e.type == "error"]
    at_once = [e for e in parser.feed(data[end - 1:end], now=11.0) if e.type == "error"]
    assert [(e.get("kind"), e.t) for e in at_once] == [("nan", 11.0)]


def test_a_nan_run_fails_though_it_exits_0_with_a_final_lora():
    assert (NAN / "exit_code.txt").read_text().strip() == "0"
    events = parse_files([LOG])
    outcome = decide_outcome(events, final_output_exists=True, exit_code=0, signal=None)
    assert (outcome.status, outcome.cause) == ("failed", "nan")
    check = json.loads((NAN / "lora-check.json").read_text())
    assert check["nonfinite_tensors"] == 1444  # what the saved LoRA really held
    no_error_event = [e for e in events if e.type != "error"]
    outcome = decide_outcome(no_error_event, final_output_exists=True, exit_code=0, signal=None,
                             nonfinite_outputs=["nan_lora.safetensors"])
    assert (outcome.status, outcome.cause) == ("failed", "nonfinite_output")


def test_random_chunks_of_the_merged_log_give_the_same_events():
    reference = [e.to_dict() for e in parse_files([LOG])]
    for seed in range(3):
        assert [e.to_dict() for e in parse_chunked([LOG.read_bytes()], random.Random(seed))] == reference


def test_tensorboard_nan_points_are_read_and_never_written_as_json_numbers():
    expected = json.loads((NAN / "tensorboard/expected_scalars.json").read_text())["scalars"]
    got: dict = {}
    for point in read_scalars(NAN / "tensorboard"):
        value = point.value if math.isfinite(point.value) else str(point.value)
        got.setdefault(point.tag, []).append({"step": point.step, "value": value, "wall_time": point.wall_time})
    assert got == expected
    events = with_tensorboard(parse_files([LOG]), read_scalars(NAN / "tensorboard"))
    steps = [e.to_dict() for e in events if e.type == "step"]
    assert steps[0]["loss"] == 1.1338998079299927
    assert steps[1]["nonfinite"] == ["avr_loss", "loss"] and "loss" not in steps[1]
    assert all(e.to_json() for e in events)  # valid JSON: no NaN literals

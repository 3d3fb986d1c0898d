"""Events: the exact JSON lines of DESIGN.md, and events.jsonl reading/writing that a live writer can share."""

from __future__ import annotations

import json
import math

import pytest

from kohya_wrap.job.events import (Event, EventsFileError, event_from_dict, make_event, read_events_jsonl,
                                    write_events_jsonl)


def test_design_example_lines_exactly():
    assert make_event("step", 1795249512.4, step=3, total=6, avr_loss=1.08, s_per_it=26.5, eta_s=79,
                      loss=None).to_json() == (
        '{"type": "step", "t": 1795249512.4, "step": 3, "total": 6, "avr_loss": 1.08, "s_per_it": 26.5, "eta_s": 79}')
    assert make_event("saved", 1795249520.1, path="output/shape_lora-step00000004.safetensors", step=4).to_json() == (
        '{"type": "saved", "t": 1795249520.1, "path": "output/shape_lora-step00000004.safetensors", "step": 4}')


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError, match="non-finite"):
        make_event("step", 1.0, avr_loss=math.nan)


def test_round_trip_and_append(tmp_path):
    path = tmp_path / "events.jsonl"
    first = [make_event("started", 1.0, pid=42), make_event("warning", 2.0, message="学習開始")]
    assert write_events_jsonl(path, first) == 2
    write_events_jsonl(path, [{"type": "exited", "t": 3.0, "code": 0}])
    events = read_events_jsonl(path)
    assert [e.to_dict() for e in events] == [e.to_dict() for e in first] + [{"type": "exited", "t": 3.0, "code": 0}]
    assert "学習開始" in path.read_text(encoding="utf-8")
    write_events_jsonl(path, first[:1], append=False)
    assert len(read_events_jsonl(path)) == 1


def test_a_line_still_being_written_is_left_for_later(tmp_path):
    path = tmp_path / "events.jsonl"
    line = make_event("step", 5.0, step=1).to_json()
    path.write_text(line + "\n" + line[:10], encoding="utf-8")
    assert len(read_events_jsonl(path)) == 1
    path.write_text(line + "\n" + line, encoding="utf-8")  # complete but not yet terminated
    assert len(read_events_jsonl(path)) == 2


def test_a_broken_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "step", "t": 1}\nnot json\n{"type": "step", "t": 2}\n', encoding="utf-8")
    with pytest.raises(EventsFileError, match=":2:"):
        read_events_jsonl(path)


def test_event_access_and_validation():
    event = event_from_dict({"type": "error", "t": 4, "kind": "oom", "hint": "x"})
    assert isinstance(event, Event) and event.t == 4.0 and event["kind"] == "oom" and event.get("type") == "error"
    assert event.get("missing", 7) == 7
    with pytest.raises(ValueError):
        event_from_dict({"t": 1})
    assert json.loads(event.to_json()) == {"type": "error", "t": 4.0, "kind": "oom", "hint": "x"}

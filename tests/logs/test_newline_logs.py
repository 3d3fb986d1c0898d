"""Logs whose \\r were turned into \\n (Docker, RunPod, CI capture, copy-paste) parse to the same events."""

from __future__ import annotations

import pytest

from kohya_wrap.job.outcome import decide_outcome
from kohya_wrap.logs.parse import LogParser

from .conftest import FIXTURES, RUNS, log_paths

LOGS = {name: log_paths(name) for name in RUNS}
LOGS["nan"] = [FIXTURES / "sdxl-cpu-run-nan" / "train.log"]
LOGS.update({path.parent.name: [path] for path in sorted((FIXTURES / "failures-real").glob("*/train.log"))})
COMPARED = ("step", "saved", "config", "epoch", "error", "resumed")
EXITS = {"interrupted_sigint_during_training": 130, "killed_sigterm_group_during_training": None}


def parse(streams: list[bytes]) -> list:
    parser = LogParser()
    events = []
    for data in streams:
        events += parser.feed(data)
        events += parser.end_stream()
    return events + parser.finish()


def facts(events: list) -> list[dict]:
    """The events that decide an outcome, without their time (a \\n capture keeps every value but the clock)."""
    out = []
    for event in events:
        if event.type in COMPARED:
            data = event.to_dict()
            data.pop("t")
            out.append(data)
    return out


def outcome(events: list, name: str):
    final = name in ("main", "attempt1", "simple", "resume", "resume_skip", "nan")
    return decide_outcome(events, final_output_exists=final, exit_code=EXITS.get(name, 0 if final else 1),
                          signal=None).to_dict()


@pytest.mark.parametrize("name", sorted(LOGS))
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_a_capture_with_newlines_for_carriage_returns_parses_the_same(name, newline):
    original = [path.read_bytes() for path in LOGS[name]]
    rewritten = [data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", newline) for data in original]
    before, after = parse(original), parse(rewritten)
    assert facts(after) == facts(before)
    assert outcome(after, name) == outcome(before, name)


def test_the_successful_run_is_still_a_success_after_the_rewrite():
    rewritten = [path.read_bytes().replace(b"\r", b"\n") for path in LOGS["main"]]
    events = parse(rewritten)
    assert [e.get("step") for e in events if e.type == "step"] == [1, 2, 3, 4, 5, 6]
    assert outcome(events, "main")["status"] == "succeeded"


def test_a_bar_alone_on_its_line_is_a_redraw_not_text():
    log = (b"steps:   0%|          | 0/2 [00:00<?, ?it/s]\n"
           b"steps:  50%|#####     | 1/2 [00:05<00:05,  5.00s/it, avr_loss=0.5]\n"
           b"steps: 100%|##########| 2/2 [00:10<00:00,  5.00s/it, avr_loss=0.4]\n")
    steps = [e.to_dict() for e in parse([log]) if e.type == "step"]
    assert [(s["step"], s["avr_loss"]) for s in steps] == [(1, 0.5), (2, 0.4)]

"""A missing sample prompt file is a warning (sd-scripts trains on), not an error: a real log."""

from __future__ import annotations

from kohya_wrap.job.outcome import decide_outcome
from kohya_wrap.logs.parse import parse_files
from tests.conftest import REPO

LOG = REPO / "tests" / "fixtures" / "sdxl-cpu-run-samples-missing" / "train.log"


def test_a_missing_prompt_file_warns_and_the_run_still_succeeds():
    events = [event.to_dict() for event in parse_files([LOG])]
    assert not [e for e in events if e["type"] == "error"]
    warnings = [e for e in events if e["type"] == "warning" and e["kind"] == "samples_skipped"]
    assert len(warnings) == 2 and "no_such_prompts.txt" in warnings[0]["message"]
    assert "training goes on" in warnings[0]["message"]
    outcome = decide_outcome(events, final_output_exists=True, exit_code=0, signal=None)
    assert outcome.status == "succeeded"

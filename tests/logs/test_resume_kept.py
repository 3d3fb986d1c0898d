"""Real resumes on a checkout with patch 0003 (tests/fixtures/sdxl-cpu-run-resume-kept): the trainer keeps its
step count, so the parser must not shift it, whatever offset the caller expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kohya_wrap.job.outcome import decide_outcome
from kohya_wrap.logs.parse import parse_files
from tests.conftest import REPO

KEPT = REPO / "tests" / "fixtures" / "sdxl-cpu-run-resume-kept"
# run -> (steps of launch 1, state step it resumed from, steps of launch 2, total after the resume)
RUNS = {"walk": ([1, 2, 3, 4], 4, [5, 6], 6), "ga": ([1, 2, 3, 4, 5, 6], 6, [7, 8, 9, 10], 10)}


def _events(run: str, launch: int, step_offset=None) -> list[dict]:
    return [e.to_dict() for e in parse_files([KEPT / run / f"launch{launch}" / "train.log"], step_offset)]


def _of(events, kind):
    return [e for e in events if e["type"] == kind]


@pytest.mark.parametrize("run", sorted(RUNS))
@pytest.mark.parametrize("step_offset", [None, 0, "state"])
def test_the_resumed_launch_numbers_its_steps_as_the_whole_run(run, step_offset):
    first, state_step, second, total = RUNS[run]
    offset = state_step if step_offset == "state" else step_offset  # what an unaware caller would force
    events = _events(run, 2, offset)
    steps = _of(events, "step")
    assert [e["step"] for e in steps] == second and {e["total"] for e in steps} == {total}
    [resumed] = _of(events, "resumed")
    assert (resumed["step"], resumed["step_offset"]) == (state_step, 0)
    outcome = decide_outcome(events, final_output_exists=True, exit_code=0, signal=None)
    assert outcome.status == "succeeded", outcome


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_first_launch_is_an_ordinary_run(run):
    first, _, _, total = RUNS[run]
    events = _events(run, 1)
    assert [e["step"] for e in _of(events, "step")] == first and not _of(events, "resumed")


@pytest.mark.parametrize("run", sorted(RUNS))
def test_checkpoints_states_and_metadata_carry_the_whole_runs_step(run):
    _, state_step, second, total = RUNS[run]
    launch = KEPT / run / "launch2"
    saved = {Path(e["path"]).name: e.get("step") for e in _of(_events(run, 2), "saved")}
    assert saved[f"{run}.safetensors"] == total and saved[f"{run}-state"] == total
    metadata = json.loads((launch / "lora-metadata.json").read_text())[f"{run}.safetensors"]
    assert (metadata["ss_steps"], metadata["ss_max_train_steps"]) == (str(total), str(total))
    final_state = json.loads((launch / "output" / f"{run}-state" / "train_state.json").read_text())
    assert final_state["current_step"] == total  # a second resume starts where this one ended
    assert all(int(name.split("-step")[1][:8]) > state_step for name in saved if "-step" in name)

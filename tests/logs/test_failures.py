"""Each real failed run gets the right error kind, a hint saying what to change, and the right outcome."""

from __future__ import annotations

import signal

import pytest

from kohya_wrap.job.outcome import decide_outcome
from kohya_wrap.logs.parse import LogParser

from .conftest import MAIN, parse_run

# name -> (kind, words the message must hold, words the hint must hold); exit facts are in failed-runs/README
FAILURES = {
    "fail_bad_folder_name": ("no_data", ["No data found"], ["<repeats>_<name>", "shape", "10_shape"]),
    "fail_missing_model": ("missing_model", ["/tmp/models/missing_model.safetensors"],
                           ["pretrained_model_name_or_path", "does not exist"]),
    "fail_unknown_argument": ("bad_arg", ["unrecognized arguments: --network_dimm 4"],
                              ["--network_dimm is not an option", "did you mean --network_dim?"]),
    "fail_memory_limit_ulimit_v20GB": ("oom", ["can't allocate memory", "26214400 bytes"], ["RAM", "ulimit -v"]),
    "fail_memory_limit_ulimit_v12GB": ("oom", ["unable to mmap 6938040488 bytes"], ["memory-mapped", "ulimit -v"]),
    "interrupted_sigint_during_training": ("interrupted", ["KeyboardInterrupt"], ["--resume"]),
    "killed_sigterm_group_during_training": ("killed", ["stops in the middle of a line"],
                                             ["SIGTERM/SIGKILL", "out-of-memory killer"]),
}
# name -> (exit_code, signal) as the README records them; the SIGTERM'd run has no exit status, only the signal
EXITS = {"fail_bad_folder_name": (0, None), "fail_missing_model": (1, None), "fail_unknown_argument": (1, None),
         "fail_memory_limit_ulimit_v20GB": (1, None), "fail_memory_limit_ulimit_v12GB": (1, None),
         "interrupted_sigint_during_training": (130, None),
         "killed_sigterm_group_during_training": (None, signal.SIGTERM)}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_failure_gets_one_error_with_its_kind_and_a_useful_hint(name):
    kind, message_words, hint_words = FAILURES[name]
    errors = [e.to_dict() for e in parse_run(name) if e.type == "error"]
    assert [e["kind"] for e in errors] == [kind]  # accelerate's echo (CalledProcessError) adds nothing
    assert all(word in errors[0]["message"] for word in message_words), errors[0]
    assert all(word in errors[0]["hint"] for word in hint_words), errors[0]


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_failure_has_the_right_outcome(name):
    exit_code, sig = EXITS[name]
    outcome = decide_outcome(parse_run(name), final_output_exists=False, exit_code=exit_code, signal=sig)
    kind = FAILURES[name][0]
    if kind == "interrupted":
        assert (outcome.status, outcome.cause) == ("cancelled", "interrupted")
    else:
        assert (outcome.status, outcome.cause) == ("failed", kind)
    assert outcome.hint


def test_no_data_exits_0_yet_fails():
    outcome = decide_outcome(parse_run("fail_bad_folder_name"), final_output_exists=False, exit_code=0, signal=None)
    assert outcome.status == "failed" and "No data found" in outcome.message


def test_the_interrupted_run_saw_one_step_and_one_interruption_though_two_tracebacks():
    events = parse_run("interrupted_sigint_during_training")
    text = (MAIN / "failed-runs/interrupted_sigint_during_training.stderr.log").read_text()
    assert text.count("KeyboardInterrupt\n") == 2
    steps = [e.to_dict() for e in events if e.type == "step"]
    assert [(s["step"], s["avr_loss"], s["s_per_it"]) for s in steps] == [(1, 1.13, 5.9)]  # not the 9.44 close redraw


def test_a_sigterm_the_user_asked_for_is_a_cancel_not_a_failure():
    events = parse_run("killed_sigterm_group_during_training")
    outcome = decide_outcome(events, final_output_exists=False, exit_code=None, signal=signal.SIGTERM,
                             stop_requested="terminated")
    assert (outcome.status, outcome.cause) == ("cancelled", "terminated")
    assert "step 1/6" in outcome.message


def test_a_limit_stop_is_stopped():
    events = parse_run("killed_sigterm_group_during_training")
    outcome = decide_outcome(events, final_output_exists=False, exit_code=None, signal=signal.SIGTERM,
                             stop_requested="time_limit")
    assert (outcome.status, outcome.cause) == ("stopped", "time_limit")


def test_the_killed_log_is_only_recognised_at_its_end():
    data = (MAIN / "failed-runs/killed_sigterm_group_during_training.stderr.log").read_bytes()
    parser = LogParser()
    assert not [e for e in parser.feed(data) if e.type == "error"]  # still running, as far as bytes tell
    assert [e.get("kind") for e in parser.finish() if e.type == "error"] == ["killed"]


@pytest.mark.parametrize("name", ["main", "attempt1", "simple", "resume"])
def test_real_successful_runs_succeed(name):
    outcome = decide_outcome(parse_run(name), final_output_exists=True, exit_code=0, signal=None)
    assert (outcome.status, outcome.cause) == ("succeeded", None)


def test_succeeded_needs_the_final_file():
    outcome = decide_outcome(parse_run("main"), final_output_exists=False, exit_code=0, signal=None)
    assert (outcome.status, outcome.cause) == ("failed", "no_output")


def test_a_resume_without_the_step_offset_would_look_incomplete():
    """sd-scripts' own counter stops at 5/15 after a resume: only the carried-over 10 steps complete it."""
    events = parse_run("resume", step_offset=0)
    assert max(e.get("step") for e in events if e.type == "step") == 5
    outcome = decide_outcome(events, final_output_exists=True, exit_code=0, signal=None)
    assert (outcome.status, outcome.cause) == ("failed", "incomplete")


def test_the_over_skipping_resume_trains_nothing_and_says_why():
    outcome = decide_outcome(parse_run("resume_skip"), final_output_exists=True, exit_code=0, signal=None)
    assert (outcome.status, outcome.cause) == ("failed", "no_training")
    assert "skip_until_initial_step" in outcome.message + outcome.hint


def test_nan_fails_even_with_exit_0_and_a_final_file():
    events = [*parse_run("main"), {"type": "error", "t": 1.0, "kind": "nan", "message": "avr_loss is NaN at step 3",
                                   "hint": "lower the learning rate"}]
    outcome = decide_outcome(events, final_output_exists=True, exit_code=0, signal=None)
    assert (outcome.status, outcome.cause) == ("failed", "nan")


def test_a_lora_with_nan_weights_never_counts_as_a_good_output():
    outcome = decide_outcome(parse_run("main"), final_output_exists=True, exit_code=0, signal=None,
                             nonfinite_outputs=["shape_lora.safetensors"])
    assert (outcome.status, outcome.cause) == ("failed", "nonfinite_output")
    assert "shape_lora.safetensors" in outcome.message


def test_sigkill_without_a_stop_request_is_a_kill():
    events = parse_run("interrupted_sigint_during_training")[:-1]  # drop the interruption: a bare SIGKILL
    events = [e for e in events if e.type != "error"]
    outcome = decide_outcome(events, final_output_exists=False, exit_code=None, signal=signal.SIGKILL)
    assert (outcome.status, outcome.cause) == ("failed", "killed")
    assert "SIGKILL" in outcome.message


def test_outcome_to_dict():
    outcome = decide_outcome(parse_run("main"), final_output_exists=True, exit_code=0, signal=None)
    assert outcome.to_dict() == {"status": "succeeded", "cause": None, "hint": None,
                                 "message": "trained 6/6 steps and saved the final LoRA", "exit_code": 0,
                                 "signal": None, "stop_signals": [], "step": None, "total": None}

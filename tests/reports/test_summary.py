"""summary.json from job folders built of real runs: steps, exact loss, outputs with sha256, NaN files, causes."""

from __future__ import annotations

import hashlib
import json

import pytest

from kohya_wrap.reports.summary import build_summary, write_summary
from kohya_wrap.reports.write import write_reports

from .helpers import expected_scalars, make_job, parsed_events, write_events

UP = "lora_unet_middle_block_1_transformer_blocks_0_attn1_to_q.lora_up.weight"
FILES = ["shape_lora-step00000002.safetensors", "shape_lora-step00000004.safetensors",
         "shape_lora-step00000006.safetensors", "shape_lora.safetensors"]


def test_real_run_summary(tmp_path):
    job = make_job(tmp_path)
    summary = build_summary(job)
    assert summary["status"] == "succeeded" and summary["cause"] is None
    assert summary["steps"] == {"done": 6, "total": 6}
    assert summary["epochs"] == {"done": 1, "total": 1}
    loss = [p["value"] for p in expected_scalars("main")["loss/current"]]
    assert (summary["loss"]["first"], summary["loss"]["min"], summary["loss"]["last"]) == (loss[0], min(loss), loss[-1])
    assert summary["loss"]["source"] == "tensorboard loss/current"
    assert [o["path"] for o in summary["outputs"]] == [f"output/{name}" for name in FILES]
    for entry in summary["outputs"]:
        data = (job / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
        assert entry["metadata"]["ss_network_dim"] == "4" and entry["metadata"]["ss_base_model_version"] == "sdxl_base_v1-0"
        assert entry["final"] == (entry["path"] == "output/shape_lora.safetensors")
    assert summary["good_outputs"] == [f"output/{name}" for name in FILES]
    assert summary["nonfinite_outputs"] == []
    assert summary["samples"] == ["samples/shape_lora_000003_00_20261121082611_1234.png"]
    assert summary["warnings"] >= 1 and summary["exit"] == {"code": 0, "signal": None, "cause": None}


def test_speed_excludes_steps_with_sampling_or_saving(tmp_path):
    summary = build_summary(make_job(tmp_path))
    wall = {p["step"]: p["wall_time"] for p in expected_scalars("main")["loss/current"]}
    # saves at 2, 4, 6 and samples at 3, 6: step 5 is the only plain step of this run
    assert summary["speed"]["steps_excluded"] == [2, 3, 4, 6]
    assert summary["speed"]["mean_s_per_it"] == pytest.approx(wall[5] - wall[4])


def test_phases_are_measured_and_add_up(tmp_path):
    phases = build_summary(make_job(tmp_path))["phases"]
    assert phases["source"] == "events"
    # README: checkpoint load 15 s; latents, text-encoder outputs and LoRA setup ~24 s; 2 samples of ~22 s
    assert 10 <= phases["load"] <= 20 and 15 <= phases["caching"] <= 35
    assert phases["training"] > 60 and phases["total"] >= phases["training"]
    assert phases["sampling"] is None or phases["sampling"] > 0  # stdout-first replays leave it unknown


def test_nan_final_lora_fails_the_run_and_is_never_good(tmp_path):
    job = make_job(tmp_path, bad={"shape_lora.safetensors": {UP: float("nan")}})
    summary = build_summary(job)
    assert summary["status"] == "failed" and summary["cause"] == "nonfinite_output"
    assert summary["nonfinite_outputs"] == ["output/shape_lora.safetensors"]
    assert "output/shape_lora.safetensors" not in summary["good_outputs"]
    final = next(o for o in summary["outputs"] if o["final"])
    assert final["nonfinite_tensors"] == [UP] and final["good"] is False


def test_a_caller_outcome_cannot_bless_a_nan_file(tmp_path):
    job = make_job(tmp_path, bad={"shape_lora.safetensors": {UP: float("inf")}})
    summary = build_summary(job, outcome={"status": "succeeded", "cause": None, "exit_code": 0})
    assert summary["status"] == "failed" and summary["cause"] == "nonfinite_output"


def test_inf_in_a_step_file_is_flagged(tmp_path):
    job = make_job(tmp_path, bad={"shape_lora-step00000004.safetensors": {UP: float("-inf")}})
    summary = build_summary(job)
    assert summary["nonfinite_outputs"] == ["output/shape_lora-step00000004.safetensors"]
    assert len(summary["good_outputs"]) == 3


def test_truncated_output_is_reported_not_raised(tmp_path):
    job = make_job(tmp_path)
    path = job / "output" / "shape_lora.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    summary = build_summary(job)
    entry = next(o for o in summary["outputs"] if o["final"])
    assert entry["good"] is False and ("truncated" in entry["error"] or "outside the file" in entry["error"])


@pytest.mark.parametrize("stem, status, cause", [
    ("fail_bad_folder_name", "failed", "no_data"),
    ("fail_missing_model", "failed", "missing_model"),
    ("fail_unknown_argument", "failed", "bad_arg"),
    ("fail_memory_limit_ulimit_v20GB", "failed", "oom"),
    ("interrupted_sigint_during_training", "cancelled", "interrupted"),
    ("killed_sigterm_group_during_training", "failed", "killed"),
])
def test_failed_runs_are_summarised_with_their_cause(tmp_path, stem, status, cause):
    job = tmp_path / stem
    job.mkdir()
    write_events(job, parsed_events("failed", stem))
    summary = build_summary(job)
    assert (summary["status"], summary["cause"]) == (status, cause)
    assert summary["error"]["kind"] == cause and summary["error"]["hint"]
    assert summary["outputs"] == [] and summary["good_outputs"] == []


def test_exit_zero_with_no_data_is_not_success(tmp_path):
    job = tmp_path / "nodata"
    job.mkdir()
    write_events(job, parsed_events("failed", "fail_bad_folder_name") + [{"type": "exited", "t": 0.0, "code": 0}])
    assert build_summary(job)["status"] == "failed"


def test_grad_accumulation_keeps_every_tensorboard_point(tmp_path):
    job = make_job(tmp_path, run="simple")
    summary = build_summary(job)
    points = expected_scalars("simple")["loss/current"]
    assert summary["loss"]["points"] == len(points) == 18
    assert summary["steps"] == {"done": 10, "total": 10} and summary["epochs"] == {"done": 2, "total": 2}
    assert [e["epoch"] for e in summary["loss"]["epoch_averages"]] == [1, 2]
    assert [o["path"] for o in summary["outputs"]] == ["output/shape_lora-000001.safetensors",
                                                       "output/shape_lora.safetensors"]


def test_resumed_run_is_on_the_global_step_axis(tmp_path):
    job = make_job(tmp_path, run="resume")
    summary = build_summary(job)
    points = expected_scalars("resume")["loss/current"]
    values = [p["value"] for p in points]
    assert summary["steps"] == {"done": 15, "total": 15}
    # TensorBoard restarts at 0 on resume; the state held 10 steps
    assert summary["loss"]["min_step"] == points[values.index(min(values))]["step"] + 10
    assert summary["loss"]["epoch_averages"] == [{"epoch": 3, "value": expected_scalars("resume")["loss/epoch_average"][0]["value"]}]


def test_resume_in_the_same_folder_sums_both_launches(tmp_path):
    """A job resumed in place: two started/exited pairs, two TensorBoard folders, steps continue at 10."""
    from .helpers import copy_tensorboard

    job = make_job(tmp_path, run="simple", exit_code=None)
    copy_tensorboard("resume", job / "logs")
    first = expected_scalars("simple")["loss/current"][0]["wall_time"]
    second = expected_scalars("resume")["loss/current"][0]["wall_time"]
    events = [{"type": "started", "t": first - 90, "step_offset": 0}]
    events += [e for e in parsed_events("simple")] + [{"type": "exited", "t": second - 400, "code": 0}]
    events += [{"type": "started", "t": second - 90, "step_offset": 10}] + parsed_events("resume", step_offset=10)
    events.append({"type": "exited", "t": second + 120, "code": 0})
    (job / "events.jsonl").unlink()
    write_events(job, events)
    summary = build_summary(job)
    assert summary["loss"]["points"] == 18 + 9
    assert summary["steps"] == {"done": 15, "total": 15}
    assert summary["phases"]["launches"] == 2
    assert summary["phases"]["total"] < (second + 120) - (first - 90)  # the pause between launches is not counted
    rows_steps = summary["speed"]["steps_counted"] + len(summary["speed"]["steps_excluded"])
    assert rows_steps == 9 + 4  # steps 2..10 and 12..15: no interval spans the pause, local step 0 anchors nothing


def test_write_reports_keeps_the_runners_outcome(tmp_path):
    job = make_job(tmp_path)
    outcome = {"status": "cancelled", "cause": "interrupted", "message": "Interrupted by the user", "exit_code": 130}
    write_reports(job, outcome=outcome)
    again = write_reports(job)
    assert again["status"] == "cancelled" and again["outcome"]["message"] == "Interrupted by the user"
    assert json.loads((job / "summary.json").read_text())["cause"] == "interrupted"


def test_write_summary_is_json(tmp_path):
    job = make_job(tmp_path)
    path = write_summary(job, build_summary(job))
    assert json.loads(path.read_text())["steps"]["done"] == 6
    assert not [p for p in job.iterdir() if p.name.startswith(".summary.json")]  # no temp file left behind


def _launch(job, pid: int) -> None:
    import socket

    (job / "events.jsonl").unlink()
    events = [{"type": "started", "t": 1795249420.0, "pid": pid, "host": socket.gethostname(), "step_offset": 0}]
    write_events(job, events + parsed_events("main")[:12])


def test_a_job_in_progress_is_running_and_keeps_no_summary_file(tmp_path):
    import os

    job = make_job(tmp_path, exit_code=None)
    _launch(job, os.getpid())  # a live process stands in for the trainer
    summary = write_reports(job)
    assert summary["status"] == "running"
    assert (job / "report.html").is_file() and not (job / "summary.json").exists()


def test_a_launch_whose_trainer_vanished_without_exit_is_failed(tmp_path):
    import subprocess
    import sys

    job = make_job(tmp_path, exit_code=None)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    _launch(job, int(gone.stdout))
    summary = build_summary(job)
    assert (summary["status"], summary["cause"]) == ("failed", "no_exit_recorded")


def test_cost_uses_the_jobs_hourly_rate(tmp_path):
    job = make_job(tmp_path)
    (job / "job.toml").write_text("[limits]\ngpu_hourly_usd = 2.0\ngpu_count = 2\n")
    summary = build_summary(job)
    assert summary["cost"]["usd_per_hour"] == 4.0
    assert summary["cost"]["usd"] == pytest.approx(4.0 * summary["phases"]["total"] / 3600)
    assert build_summary(make_job(tmp_path / "b"))["cost"] is None  # no rate, no GPU: no guess


def test_a_damaged_tensorboard_file_is_read_and_reported(tmp_path):
    job = make_job(tmp_path)
    (event_file,) = (job / "logs").rglob("events.out.tfevents.*")
    data = bytearray(event_file.read_bytes())
    data[-3] ^= 0xFF  # the last record's checksum no longer matches
    event_file.write_bytes(bytes(data))
    summary = write_reports(job)
    assert "checksum" in summary["tensorboard_problem"]
    assert summary["loss"]["source"].startswith("log avr_loss") and summary["steps"] == {"done": 6, "total": 6}
    assert "checksum" in (job / "report.html").read_text(encoding="utf-8")

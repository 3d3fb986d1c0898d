"""The limits pre-flight uses kohya-wrap estimate's prediction for the job's GPU when no earlier run can be
measured from, and the prediction is calibrated by finished runs on that GPU."""

from __future__ import annotations

import json

import pytest

from kohya_wrap.errors import LimitReached
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.registry.jobs import register_folder, update_job
from kohya_wrap.runner.plan import estimate_job, predict

H100 = "NVIDIA H100 80GB HBM3"


def _on_gpu(job, gpu: str = H100) -> None:
    command = json.loads((job / "command.json").read_text())
    command["platform"] = {**command.get("platform", {}), "gpu_name": gpu, "cuda_available": True}
    (job / "command.json").write_text(json.dumps(command))


def test_preflight_predicts_time_and_cost_for_a_known_gpu_and_refuses_over_the_limit(registry, standin):
    job = standin("predicted", "training.max_train_steps=2000", "limits.max_cost_usd=0.01",
                  "limits.gpu_hourly_usd=3")
    _on_gpu(job)
    with pytest.raises(LimitReached, match="predicted for .*H100"):
        estimate_job(registry, job)
    plan = estimate_job(registry, job, force=True)
    assert plan.estimate.seconds > 0 and plan.estimate.cost == pytest.approx(plan.estimate.seconds * 3 / 3600, rel=0.01)
    record = plan.record(forced=True)
    assert record["prediction"]["verdict"] in ("fits", "tight", "does not fit") and record["prediction"]["peak_vram_gib"] > 0


def test_a_gpu_outside_the_table_falls_back_to_measuring_the_first_steps(registry, standin):
    job = standin("unknown-gpu", "limits.max_cost_usd=5", "limits.gpu_hourly_usd=3")
    _on_gpu(job, "Some Future Accelerator 9000")
    plan = estimate_job(registry, job)
    assert plan.estimate.seconds is None and plan.prediction is None


def test_finished_runs_on_the_gpu_calibrate_the_prediction(registry, standin):
    job = standin("measured")
    _on_gpu(job)
    register_folder(registry, job)
    update_job(registry, job.name, status="succeeded", mean_s_per_it=0.777, gpu_name=H100)
    config = jobfolder.read(job).config
    calibrated = predict(config, H100, registry=registry, allow_trace=False, price=3.0)
    plain = predict(config, H100, registry=None, allow_trace=False, price=3.0)
    assert calibrated.s_per_it == pytest.approx(0.777) and "calibrated from 1 run" in calibrated.basis["s_per_it"]
    assert plain.s_per_it != pytest.approx(0.777)


def test_a_resume_is_estimated_for_the_steps_left(registry, standin):
    job = standin("resumed", "training.max_train_steps=2000", "limits.max_cost_usd=100", "limits.gpu_hourly_usd=3")
    _on_gpu(job)
    whole = estimate_job(registry, job).estimate
    rest = estimate_job(registry, job, steps_done=1500).estimate
    assert rest.seconds == pytest.approx(whole.seconds / 4, rel=0.01)
    assert rest.cost == pytest.approx(whole.cost / 4, rel=0.01)

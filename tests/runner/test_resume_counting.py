"""How a resume counts its steps: refused on a checkout that restarts at step 0 (step-bounded runs), the steps
left on one with patch 0003, a note on a trainer kohya-wrap cannot judge (the stand-in)."""

from __future__ import annotations

import json

import pytest

from kohya_wrap.backend import patches
from kohya_wrap.runner import run_job
from tests.runner.conftest import STANDIN


def _backend(tmp_path, monkeypatch, patched: bool):
    """The stand-in trainer beside a train_network.py with the pinned text patch 0003 looks for."""
    root = tmp_path / "sd-scripts"
    root.mkdir()
    for name in ("sdxl_train_network.py", "replay.py"):
        (root / name).symlink_to(STANDIN / name)  # replay.py finds tests/fixtures through the link
    patch = next(p for p in patches.load_patches() if p.name == patches.RESUME_PATCH)
    (root / "train_network.py").write_text("\n# ...\n".join(hunk.anchor for hunk in patch.hunks))
    if patched:
        patches.apply_patches(root, patches.plan_patches(root, [patch]))
    monkeypatch.setenv("KOHYA_WRAP_SD_SCRIPTS", str(root))
    return root


def _started(job_dir) -> list[dict]:
    events = [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]
    return [event for event in events if event["type"] == "started"]


@pytest.mark.parametrize("patched", [False, True])
def test_resume_counts_by_what_the_checkout_does(prepared_job, cli, tmp_path, monkeypatch, patched):
    _backend(tmp_path, monkeypatch, patched)
    job_dir = prepared_job()
    assert run_job(job_dir).status == "succeeded"  # its state is at step 10
    result = cli("train", "--resume", job_dir.name, "max_train_steps=40", "--dry-run")
    if patched:
        assert result.exit_code == 0, result.output
        assert "note: this run trains steps 11-40 of the job" in result.output
    else:
        assert result.exit_code == 2, result.output
        assert "starts its step counter at 0 again" in result.output
        assert "would train 40 more steps (to step 50), not the 30 left" in result.output
        assert "kohya-wrap backend patches --apply" in result.output and "Traceback" not in result.output
    assert len(_started(job_dir)) == 1


def test_an_epoch_bounded_resume_runs_on_either_checkout(prepared_job, cli, tmp_path, monkeypatch):
    _backend(tmp_path, monkeypatch, patched=False)
    job_dir = prepared_job()
    assert run_job(job_dir).status == "succeeded"
    result = cli("train", "--resume", job_dir.name, "max_train_epochs=5", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "note: this run trains the epochs left of the job" in result.output


def test_a_trainer_it_cannot_judge_resumes_with_a_note(prepared_job, cli):
    job_dir = prepared_job()  # the stand-in alone: no train_network.py
    assert run_job(job_dir).status == "succeeded"
    result = cli("train", "--resume", job_dir.name, "max_train_steps=40", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "cannot tell whether the trainer" in result.output and "it trains 40 more steps" in result.output


def test_the_patched_resume_passes_no_offset_to_the_run(prepared_job, tmp_path, monkeypatch):
    from kohya_wrap.runner.resume import resume_plan

    _backend(tmp_path, monkeypatch, patched=True)
    job_dir = prepared_job()
    assert run_job(job_dir).status == "succeeded"
    assert resume_plan(job_dir.name, overrides=["max_train_steps=40"]).step_offset == 0


def test_a_resume_that_keeps_the_count_trains_the_steps_left_and_keeps_the_old_final_lora(
        prepared_job, cli, tmp_path, monkeypatch):
    """Replays the real CPU capture (tests/fixtures/sdxl-cpu-run-resume-kept/walk) through the real runner."""
    _backend(tmp_path, monkeypatch, patched=True)
    monkeypatch.setenv("STANDIN_SCENARIO", "kept-walk-1")
    job_dir = prepared_job("saving.output_name=walk", "training.max_train_steps=4", "saving.save_every_n_steps=2")
    assert run_job(job_dir).status == "succeeded"
    assert cli("registry", "rebuild").exit_code == 0
    before = {m["uri"]: (m["version"], m["sha256"]) for m in json.loads(cli("jobs", "show", job_dir.name,
                                                                          "--json").output)["models"]}
    final = (job_dir / "output" / "walk.safetensors").resolve().as_uri()
    monkeypatch.setenv("STANDIN_SCENARIO", "kept-walk-2")
    result = cli("train", "--resume", job_dir.name, "max_train_steps=6")
    assert result.exit_code == 0, result.output
    assert "this run trains steps 5-6 of the job" in result.output and "attempts/1/output/" in result.output
    second = [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]
    second = second[max(i for i, e in enumerate(second) if e["type"] == "started"):]
    assert [e["step"] for e in second if e["type"] == "step"] == [5, 6] and second[0]["step_offset"] == 0
    models = json.loads(cli("jobs", "show", job_dir.name, "--json").output)["models"]
    archived = (job_dir / "attempts" / "1" / "output" / "walk.safetensors").resolve().as_uri()
    by_uri = {m["uri"]: m for m in models}
    assert (by_uri[archived]["version"], by_uri[archived]["sha256"]) == before[final]  # same version, same bytes
    assert by_uri[final]["version"] > max(version for version, _ in before.values())
    assert not [m for m in models if m["problem"]]
    shown = cli("jobs", "show", job_dir.name).output
    assert "attempts/1/output/walk.safetensors" in shown and "PROBLEM" not in shown


def test_jobs_retry_refuses_a_resume_the_checkout_would_count_wrong(prepared_job, cli, tmp_path, monkeypatch):
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.jobs import update_job

    _backend(tmp_path, monkeypatch, patched=False)
    job_dir = prepared_job()
    assert run_job(job_dir).status == "succeeded"  # state at step 10 of 3000
    assert cli("registry", "rebuild").exit_code == 0
    update_job(open_registry(), job_dir.name, status="failed", cause="crashed")
    result = cli("jobs", "retry", job_dir.name)
    assert result.exit_code == 2, result.output
    assert "starts its step counter at 0 again" in result.output and "backend patches --apply" in result.output
    assert not (job_dir / "attempts").exists()  # nothing was moved or queued
    assert cli("jobs", "retry", job_dir.name, "--fresh").exit_code == 0  # from step 0 needs no resume


def test_what_a_resume_would_write_again_is_listed_by_how_it_counts(prepared_job):
    from kohya_wrap.runner.resume import overwritten

    job_dir = prepared_job()  # output_name shape_lora
    output = job_dir / "output"
    output.mkdir(exist_ok=True)
    for name in ("shape_lora.safetensors", "shape_lora-step00000002.safetensors", "shape_lora-000001.safetensors",
                 "shape_lora_v2-step00000002.safetensors"):
        (output / name).write_bytes(b"x")
    final, step = "output/shape_lora.safetensors", "output/shape_lora-step00000002.safetensors"
    assert overwritten(job_dir, restarts=False) == [final]  # the count goes on: only the final name repeats
    assert overwritten(job_dir, restarts=True) == [final, step]  # epoch names go on either way

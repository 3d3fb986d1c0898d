"""report_from_log and `kohya-wrap report`: plain sd-scripts runs, job lookup, clean errors."""

from __future__ import annotations

import json

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job.events import read_events_jsonl
from kohya_wrap.reports.write import report_from_log

from .helpers import FIXTURES, expected_scalars, make_job, parsed_events


def logs(run: str, stem: str = ""):
    folder = FIXTURES / run
    return [folder / f"{stem}.stdout.log", folder / f"{stem}.stderr.log"] if stem else [folder / "stdout.log",
                                                                                       folder / "stderr.log"]


def test_report_from_plain_logs_with_tensorboard(tmp_path):
    html = report_from_log(logs("main"), tmp_path / "out", FIXTURES / "main" / "tensorboard")
    out = html.parent
    assert html == out / "report.html" and (out / "report.md").is_file()
    assert [e.to_dict() for e in read_events_jsonl(out / "events.jsonl")] == parsed_events("main")
    summary = json.loads((out / "summary.json").read_text())
    loss = [p["value"] for p in expected_scalars("main")["loss/current"]]
    assert (summary["loss"]["first"], summary["loss"]["min"], summary["loss"]["last"]) == (loss[0], min(loss), loss[-1])
    assert summary["steps"] == {"done": 6, "total": 6}
    # the LoRA files named in the log live on the machine that trained: listed, not checked, not counted good
    assert [o["exists"] for o in summary["outputs"]] == [False] * 4 and summary["good_outputs"] == []
    assert summary["status"] == "succeeded" and "not checked" in summary["outcome"]["note"]


def test_report_from_log_without_tensorboard_uses_the_logs_loss(tmp_path):
    report_from_log(logs("main"), tmp_path / "out", None)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["loss"]["source"].startswith("log avr_loss") and summary["tensorboard_points"] == 0
    assert summary["loss"]["last"] == 1.08  # tqdm's rounded avr_loss at step 6


def test_report_from_log_of_a_failed_run(tmp_path):
    report_from_log(logs("failed", "fail_missing_model"), tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["status"], summary["cause"]) == ("failed", "missing_model")


def test_report_from_log_recomputes_the_outcome_each_time(tmp_path):
    out = tmp_path / "out"
    report_from_log(logs("failed", "fail_missing_model"), out)
    report_from_log(logs("main"), out, FIXTURES / "main" / "tensorboard")
    assert json.loads((out / "summary.json").read_text())["status"] == "succeeded"


def test_report_from_log_missing_inputs(tmp_path):
    with pytest.raises(KohyaWrapError, match="Log file not found"):
        report_from_log([tmp_path / "nope.log"], tmp_path / "out")
    with pytest.raises(KohyaWrapError, match="TensorBoard folder not found"):
        report_from_log(logs("main"), tmp_path / "out", tmp_path / "no-tb")


def test_report_from_log_never_overwrites_a_job_folder(tmp_path):
    job = make_job(tmp_path)
    before = (job / "events.jsonl").read_bytes()
    (job / "job.toml").write_text("[meta]\n")
    with pytest.raises(KohyaWrapError, match="is a kohya-wrap job folder"):
        report_from_log(logs("main"), job)
    assert (job / "events.jsonl").read_bytes() == before


# -- the command ---------------------------------------------------------------------------------------------


def test_cli_report_job_by_id_and_json(cli, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    job = make_job(runs)
    monkeypatch.setenv("KOHYA_WRAP_RUNS", str(runs))
    result = cli("report", "shape_lora")  # a job name: the newest job of that name
    assert result.exit_code == 0, result.output
    assert "Succeeded" in result.output and "6 / 6" in result.output
    assert str(job / "report.html") in result.output
    result = cli("report", str(job), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["steps"] == {"done": 6, "total": 6}


def test_cli_report_from_log(cli, tmp_path):
    out = tmp_path / "r"
    result = cli("report", "--from-log", *logs("failed", "fail_unknown_argument"), "--out", out)
    assert result.exit_code == 0, result.output
    assert "bad_arg" in result.output and "did you mean --network_dim?" in result.output
    assert (out / "report.html").is_file()
    # the folder it made is itself reportable
    assert cli("report", out, "--json").exit_code == 0


def test_cli_report_from_log_default_out_folder(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("report", "--from-log", *logs("main"), "--tensorboard", FIXTURES / "main" / "tensorboard")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "stdout-report" / "report.html").is_file()


@pytest.mark.parametrize("args, message", [
    (("no-such-job",), "No job 'no-such-job'"),
    (("a", "b"), "Give exactly one JOB"),
    (("--from-log", "missing.log"), "Log file not found"),
])
def test_cli_report_errors_are_clean(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("KOHYA_WRAP_RUNS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = cli("report", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_cli_report_help_has_an_example(cli):
    result = cli("report", "-h")
    assert result.exit_code == 0 and "Example:" in result.output and "--from-log" in result.output

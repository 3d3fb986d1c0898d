"""`kohya-wrap logs`: parse any log (JSON lines or a table), and show or follow a job's train.log."""

from __future__ import annotations

import json

import pytest

from kohya_wrap.logs.parse import parse_files

from .conftest import FAILED, RUNS, log_paths


def test_parse_json_prints_exactly_the_event_lines(cli):
    paths = log_paths("simple")
    result = cli("logs", "parse", *paths, "--json")
    assert result.exit_code == 0
    assert result.output.splitlines() == [e.to_json() for e in parse_files(paths)]
    assert all(set(json.loads(line)) >= {"type", "t"} for line in result.output.splitlines())


def test_parse_table_ends_with_counts_and_shows_hints(cli):
    result = cli("logs", "parse", FAILED / "fail_unknown_argument.stderr.log")
    assert result.exit_code == 0
    assert "bad_arg: sdxl_train_network.py: error: unrecognized arguments: --network_dimm 4" in result.output
    assert "hint: " in result.output and "did you mean --network_dim?" in result.output
    assert result.output.rstrip().endswith("0 steps, 0 saves, 0 samples, 0 warnings, 1 errors")


def test_parse_with_tensorboard_fills_exact_losses(cli):
    result = cli("logs", "parse", *log_paths("main"), "--tensorboard", RUNS["main"][2], "--json")
    steps = [json.loads(line) for line in result.output.splitlines() if '"type": "step"' in line]
    assert [s["loss"] for s in steps][:2] == [1.1338998079299927, 1.057237148284912]


def test_parse_a_missing_file_is_a_usage_error(cli, tmp_path):
    result = cli("logs", "parse", tmp_path / "nope.log")
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.fixture
def job(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    folder = runs / "20261121-082350-shape-1a2b"
    folder.mkdir(parents=True)
    (folder / "train.log").write_bytes(log_paths("main")[1].read_bytes())
    monkeypatch.setenv("KOHYA_WRAP_RUNS", str(runs))
    return folder


def test_logs_job_prints_the_raw_log(cli, job):
    for ref in (job.name, "20261121-0823", str(job), str(job / "train.log")):
        result = cli("logs", ref)
        assert result.exit_code == 0, ref
        assert result.stdout_bytes == (job / "train.log").read_bytes()


def test_logs_unknown_or_ambiguous_job_says_what_to_do(cli, job):
    (job.parent / "20261121-090000-other-3c4d").mkdir()
    unknown = cli("logs", "nosuchjob")
    assert unknown.exit_code == 2 and "Error: No job 'nosuchjob'" in unknown.output and "hint:" in unknown.output
    ambiguous = cli("logs", "20261121")
    assert ambiguous.exit_code == 2 and "ambiguous" in ambiguous.output and "other-3c4d" in ambiguous.output


def test_logs_follow_stops_when_the_job_has_exited(cli, job):
    (job / "events.jsonl").write_text('{"type": "exited", "t": 1.0, "code": 0}\n', encoding="utf-8")
    for args in (("logs", job.name, "-f"), ("logs", "-f", job.name), ("logs", "show", "--follow", job.name)):
        result = cli(*args)
        assert result.exit_code == 0 and result.stdout_bytes == (job / "train.log").read_bytes(), args


@pytest.mark.parametrize("args", [("logs",), ("logs", "parse"), ("logs", "show")])
def test_help_has_an_example(cli, args):
    result = cli(*args, "-h")
    assert result.exit_code == 0 and "Example" in result.output

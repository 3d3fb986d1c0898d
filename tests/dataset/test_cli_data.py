"""`kohya-wrap data ...`: help with examples, JSON twins, exit codes, no tracebacks."""

from __future__ import annotations

import json

import pytest

COMMANDS = [["data"], ["data", "scan"], ["data", "check"], ["data", "preview"], ["data", "prepare"],
            ["data", "captions", "."], ["data", "captions", ".", "add-trigger"], ["data", "captions", ".", "prefix"],
            ["data", "captions", ".", "suffix"], ["data", "captions", ".", "fill"],
            ["data", "captions", ".", "normalise"], ["data", "captions", ".", "tags"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_every_command_has_help_with_an_example(cli, args):
    result = cli(*args, "-h")
    assert result.exit_code == 0 and "Example:" in result.output and "kohya-wrap data" in result.output


def test_scan_json_lists_subsets(cli, layout):
    train, reg = layout
    payload = json.loads(cli("data", "scan", train, "--reg", reg, "--json").stdout)
    assert [(s["num_repeats"], s["images"], s["is_reg"]) for s in payload["subsets"]] == [(10, 3, False), (1, 2, True)]


def test_clean_dataset_checks_ok(cli, layout):
    train, reg = layout
    result = cli("data", "check", train, "--reg", reg)
    assert result.exit_code == 0 and "0 errors" in result.output
    again = cli("data", "check", train, "--reg", reg, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["findings"]


def test_check_of_missing_folder_is_a_clean_error(cli, tmp_path):
    result = cli("data", "check", tmp_path / "nope")
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output


def test_bad_resolution_is_a_usage_error(cli, layout):
    result = cli("data", "check", layout[0], "--resolution", "big")
    assert result.exit_code == 2 and "W,H" in result.output


def test_preview_prints_histogram_and_step_count(cli, layout):
    train, reg = layout
    result = cli("data", "preview", train, "--reg", reg, "--batch-size", "2", "--epochs", "3")
    assert result.exit_code == 0, result.output
    # 3 train images x 10 repeats; the 2 reg images are balanced up to the same 30 samples
    payload = json.loads(cli("data", "preview", train, "--reg", reg, "--batch-size", "2", "--epochs", "3",
                             "--json").stdout)
    assert payload["images_with_repeats"] == 30 and payload["reg_images_used"] == 30
    assert payload["total_steps"] == 3 * payload["batches_per_epoch"]
    assert f"this run = {payload['total_steps']} steps" in result.output


def test_preview_without_data_fails_cleanly(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("data", "preview", tmp_path / "empty")
    assert result.exit_code == 2 and "No data found" in result.output


def test_prepare_dry_run_json_writes_nothing(cli, layout, tmp_path):
    train, _ = layout
    result = cli("data", "prepare", train / "10_ohwx woman", "--out", tmp_path / "new", "--token", "ohwx",
                 "--class", "woman", "--repeats", "5", "--dry-run", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert plan["folders"][0]["path"] == "img/5_ohwx woman" and len(plan["actions"]) == 5
    assert not (tmp_path / "new").exists()


def test_prepare_refuses_bad_options_without_traceback(cli, layout, tmp_path):
    result = cli("data", "prepare", layout[0], "--out", tmp_path / "new", "--pad")
    assert result.exit_code == 2 and "--pad/--crop need --resize" in result.output

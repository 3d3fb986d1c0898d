"""`kohya-wrap data captions DIR auto`: JSON summary, text summary, progress events, exit codes."""

from __future__ import annotations

import json

from .conftest import read_caption


def test_json_summary(cli, colour_dataset, tagger_dir):
    root, _ = colour_dataset
    result = cli("data", "captions", root, "auto", "--captioner", "wd14", "--model-dir", tagger_dir,
                 "--trigger", "ohwx", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["written"], summary["skipped"], summary["mode"], summary["captioner"]) == (4, 1, "fill", "wd14")
    assert read_caption(root, "a_red").startswith("ohwx, red theme, ")


def test_text_summary_and_dry_run(cli, colour_dataset, tagger_dir):
    root, _ = colour_dataset
    result = cli("data", "captions", root, "auto", "--captioner", "wd14", "--model-dir", tagger_dir,
                 "--mode", "replace", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would write 5 caption files (dry run, nothing written)." in result.stdout
    assert "edit " in result.stdout and "create " in result.stdout and "Top tags: ^_^ (5)" in result.stdout
    assert read_caption(root, "a_red") is None
    result = cli("data", "captions", root, "auto", "--captioner", "wd14", "--model-dir", tagger_dir,
                 "--threshold", "0.9", "--undesired-tags", "^_^")
    assert "Wrote 4 caption files (4 new, 0 edited)" in result.stdout
    assert read_caption(root, "a_red") == "red theme"


def test_events_are_json_lines_on_stderr(cli, colour_dataset, tagger_dir):
    root, _ = colour_dataset
    result = cli("data", "captions", root, "auto", "--captioner", "wd14", "--model-dir", tagger_dir,
                 "--events", "--batch-size", "2", "--json")
    events = [json.loads(line) for line in result.stderr.splitlines()]
    kinds = [event["type"] for event in events]
    assert kinds[:3] == ["plan", "started", "phase"] and kinds[-1] == "finished"
    progress = [event for event in events if event["type"] == "progress"]
    assert progress[-1]["done"] == 4 and {"images_per_s", "eta_s", "elapsed_s"} <= set(progress[-1])


def test_missing_model_folder_is_exit_2_without_a_traceback(cli, colour_dataset, tmp_path):
    root, _ = colour_dataset
    result = cli("data", "captions", root, "auto", "--captioner", "blip", "--model-dir", tmp_path / "none")
    assert result.exit_code == 2
    assert "Error: No blip model folder at" in result.stderr and "Traceback" not in result.output
    assert "huggingface-cli download Salesforce/blip-image-captioning-large --local-dir" in result.stderr


def test_source_folder_without_in_place_is_refused(cli, colour_dataset, tagger_dir):
    _, src = colour_dataset
    result = cli("data", "captions", src, "auto", "--captioner", "wd14", "--model-dir", tagger_dir)
    assert result.exit_code == 2 and "--in-place" in result.stderr
    assert not (src / "a_red.txt").exists()

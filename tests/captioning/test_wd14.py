"""The WD14 tagger through the child: sd-scripts' preprocessing, thresholds, modes, trigger/prefix/suffix, writes."""

from __future__ import annotations

import zipfile

import pytest

from kohya_wrap import paths
from kohya_wrap.captioning.compose import Style
from kohya_wrap.captioning.run import AutoRequest, run_auto_captions
from kohya_wrap.errors import DatasetError
from tests.dataset.corpus import tree_checksum

from . import tiny_models
from .conftest import read_caption, subset_dir

REST = "^_^, simple background, tiny character (series)"  # tags every image gets at the default threshold


def tag(root, model, events=None, **kwargs):
    style = Style(**{k: kwargs.pop(k) for k in ("mode", "prefix", "suffix", "trigger", "undesired", "max_tags")
                     if k in kwargs})
    options = {"threshold": kwargs.pop("threshold", 0.35), "character_threshold": kwargs.pop("character", None)}
    request = AutoRequest(root=root, captioner="wd14", model_dir=model, style=style, options=options, **kwargs)
    return run_auto_captions(request, events.append if events is not None else None)


def test_fill_writes_the_tags_the_model_scores_and_skips_captioned_images(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    summary = tag(root, tagger_dir)
    assert read_caption(root, "a_red") == f"red theme, {REST}"  # BGR input: the R weight read channel 2
    assert read_caption(root, "c_blue") == f"blue theme, {REST}"
    assert read_caption(root, "d_wide_red") == f"red theme, light background, {REST}"  # padded with white
    assert read_caption(root, "e_clear") == f"light background, blue theme, green theme, red theme, {REST}"
    assert read_caption(root, "b_green") == "my own words, green_theme"  # fill never touches a caption
    assert (summary["images"], summary["skipped"], summary["captioned"], summary["written"]) == (5, 1, 4, 4)
    assert summary["created"] == 4 and summary["empty"] == [] and summary["failed"] == []
    counts = {row["tag"]: row["count"] for row in summary["tag_frequency"]}
    assert counts["^_^"] == 4 and counts["red theme"] == 3 and "general" not in counts  # ratings never


def test_thresholds_for_general_and_character_tags(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    tag(root, tagger_dir, mode="replace", threshold=0.9)
    assert read_caption(root, "a_red") == "red theme, ^_^"
    tag(root, tagger_dir, mode="replace", threshold=0.9, character=0.5)
    assert read_caption(root, "a_red") == "red theme, ^_^, tiny character (series)"


def test_replace_and_append(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    tag(root, tagger_dir, mode="append")
    assert read_caption(root, "b_green") == f"my own words, green_theme, light background, green theme, {REST}"
    again = tag(root, tagger_dir, mode="append")
    assert again["written"] == 0 and again["unchanged"] == 5  # appending the same tags twice changes nothing
    tag(root, tagger_dir, mode="replace")
    assert read_caption(root, "b_green") == f"light background, green theme, {REST}"  # G above 80 too


def test_trigger_is_inserted_first_with_prefix_and_suffix_and_reruns_change_nothing(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    style = {"mode": "replace", "trigger": "ohwx", "prefix": "pixel art", "suffix": "game sprite, 16-bit style"}
    tag(root, tagger_dir, **style)
    assert read_caption(root, "a_red") == f"ohwx, pixel art, red theme, {REST}, game sprite, 16-bit style"
    assert tag(root, tagger_dir, **style)["written"] == 0
    tag(root, tagger_dir, mode="replace", trigger="simple background")  # a predicted tag moves first, once
    assert read_caption(root, "a_red") == "simple background, red theme, ^_^, tiny character (series)"


def test_undesired_tags_and_max_tags(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    tag(root, tagger_dir, mode="replace", undesired=("simple background", "^_^"))
    assert read_caption(root, "a_red") == "red theme, tiny character (series)"
    tag(root, tagger_dir, mode="replace", max_tags=2)
    assert read_caption(root, "a_red") == "red theme, ^_^"


def test_dry_run_writes_nothing_and_sources_stay_untouched(colour_dataset, tagger_dir):
    root, src = colour_dataset
    before, source_before = tree_checksum(root.parent), tree_checksum(src)
    summary = tag(root, tagger_dir, mode="replace", trigger="ohwx", dry_run=True)
    assert tree_checksum(root.parent) == before
    assert summary["planned"] == 5 and summary["written"] == 0
    assert {e["new"] for e in summary["edits"]} >= {f"ohwx, red theme, {REST}"}
    assert not list((paths.cache_dir() / "captioning").glob("*.jsonl"))  # no resume journal either
    tag(root, tagger_dir, mode="replace")
    assert tree_checksum(src) == source_before


def test_source_folder_needs_in_place_and_then_gets_a_backup(colour_dataset, tagger_dir, tmp_path):
    _, src = colour_dataset
    before, events = tree_checksum(src), []
    with pytest.raises(DatasetError, match="--in-place"):
        tag(src, tagger_dir, mode="replace", events=events)
    assert tree_checksum(src) == before and events == []  # refused before any captioning
    summary = tag(src, tagger_dir, mode="replace", in_place=True, backup_dir=tmp_path / "bk")
    assert (src / "a_red.txt").read_text() == f"red theme, {REST}"
    with zipfile.ZipFile(summary["backup"]) as archive:
        saved = [name for name in archive.namelist() if name.endswith("b_green.txt")]
        assert archive.read(saved[0]) == b"my own words, green_theme"


def test_model_with_a_fixed_batch_size_and_larger_batches(colour_dataset, tagger_dir, tmp_path):
    root, _ = colour_dataset
    fixed = tiny_models.build_tagger(tmp_path / "fixed", batch=2)
    dynamic = tag(root, tagger_dir, mode="replace", dry_run=True, batch_size=3)
    single = tag(root, fixed, mode="replace", dry_run=True, batch_size=3)
    assert [e["new"] for e in single["edits"]] == [e["new"] for e in dynamic["edits"]]


def test_progress_events_and_unreadable_images(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    (subset_dir(root) / "f_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    events = []
    summary = tag(root, tagger_dir, events=events, batch_size=2)
    progress = [e for e in events if e["type"] == "progress"]
    assert [e["done"] for e in progress] == [2, 4, 5] and progress[-1]["total"] == 5
    assert all(e["images_per_s"] > 0 for e in progress) and progress[-1]["eta_s"] == 0
    assert [f["image"].endswith("f_broken.png") for f in summary["failed"]] == [True]
    assert summary["written"] == 4 and read_caption(root, "f_broken") is None


def test_captions_over_the_token_limit_are_reported(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    long_prefix = ", ".join(f"word{i}" for i in range(30))
    summary = tag(root, tagger_dir, prefix=long_prefix, token_limit=75)
    assert len(summary["too_long"]) == 4 and all(row["tokens"] > 75 for row in summary["too_long"])
    assert tag(root, tagger_dir, mode="replace", token_limit=225, prefix=long_prefix)["too_long"] == []

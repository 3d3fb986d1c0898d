"""BLIP and BLIP-2 (tiny, random-initialised, saved by transformers) through the child: captions, batching,
prefix/suffix/trigger, resume after the child is killed mid-run."""

from __future__ import annotations

import os
import signal

import pytest

from kohya_wrap import paths
from kohya_wrap.captioning.compose import Style
from kohya_wrap.captioning.run import AutoRequest, run_auto_captions
from kohya_wrap.errors import RunFailed
from tests.dataset.corpus import tree_checksum

from . import tiny_models
from .conftest import make_source, prepare, read_caption, subset_dir


def caption(root, model, captioner="blip", on_event=None, **kwargs):
    style = Style(**{k: kwargs.pop(k) for k in ("mode", "prefix", "suffix", "trigger") if k in kwargs})
    options = {"max_length": kwargs.pop("max_length", 12), "min_length": kwargs.pop("min_length", 3),
               "device": "cpu"}
    request = AutoRequest(root=root, captioner=captioner, model_dir=model, style=style, options=options, **kwargs)
    return run_auto_captions(request, on_event)


def test_blip_fills_missing_captions_with_generated_text(colour_dataset, blip_dir):
    root, _ = colour_dataset
    summary = caption(root, blip_dir)
    assert (summary["captioned"], summary["written"], summary["skipped"]) == (4, 4, 1)
    for stem in ("a_red", "c_blue", "d_wide_red", "e_clear"):
        words = read_caption(root, stem).split()
        assert len(words) >= 3 and set(words) <= set(tiny_models.WORDS)  # greedy decoding of the tiny vocabulary
    assert read_caption(root, "b_green") == "my own words, green_theme"


def test_batching_does_not_change_the_captions(colour_dataset, blip_dir):
    root, _ = colour_dataset
    one = caption(root, blip_dir, mode="replace", dry_run=True, batch_size=1)
    four = caption(root, blip_dir, mode="replace", dry_run=True, batch_size=4)
    assert [e["new"] for e in one["edits"]] == [e["new"] for e in four["edits"]] and len(one["edits"]) == 5


def test_prefix_suffix_and_trigger_wrap_the_generated_sentence(colour_dataset, blip_dir):
    root, _ = colour_dataset
    plain = {e["path"]: e["new"] for e in caption(root, blip_dir, mode="replace", dry_run=True)["edits"]}
    caption(root, blip_dir, mode="replace", trigger="ohwx", prefix="pixel art", suffix="game sprite, 16-bit style")
    for path, sentence in plain.items():
        with open(path, encoding="utf-8") as handle:
            assert handle.read() == f"ohwx, pixel art, {sentence}, game sprite, 16-bit style"


@pytest.mark.parametrize("mode", ["replace", "fill"])
def test_resume_after_the_child_is_killed_captions_only_the_rest(tmp_path, blip_dir, mode):
    src = make_source(tmp_path / "src", {f"img{i:02}": ("red" if i % 2 else "blue", (48, 48)) for i in range(16)})
    root = prepare(src, tmp_path / "out")
    pids, seen = [], []

    def kill_after_first(event):
        if event["type"] == "started":
            pids.append(event["pid"])
        if event["type"] == "caption":
            seen.append(event["image"])
            if len(seen) == 1:
                os.kill(pids[0], signal.SIGKILL)

    slow = {"max_length": 40, "min_length": 40}  # every caption takes 40 decoding steps: the kill lands mid-run
    with pytest.raises(RunFailed, match="rerun the same command"):
        caption(root, blip_dir, mode=mode, on_event=kill_after_first, **slow)
    first = len(seen)
    assert 1 <= first < 16
    written = sorted(p.name for p in subset_dir(root).glob("*.txt"))
    assert len(written) == first  # what was captioned before the kill is not lost
    events = []
    summary = caption(root, blip_dir, mode=mode, on_event=events.append, **slow)
    started = [e for e in events if e["type"] == "started"]
    assert started[0]["total"] == 16 - first  # the child was given only the rest
    assert summary["captioned"] == 16 - first
    assert (summary["reused"] if mode == "replace" else summary["skipped"]) == first
    assert len(list(subset_dir(root).glob("*.txt"))) == 16
    assert not list((paths.cache_dir() / "captioning").glob("*.jsonl"))  # a complete run leaves no journal
    rerun = caption(root, blip_dir, mode="fill", **slow)
    assert rerun["captioned"] == 0 and rerun["skipped"] == 16


def test_blip2_captions_from_a_local_folder(colour_dataset, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    root, src = colour_dataset
    model = tiny_models.build_blip2(tmp_path / "blip2")
    before = tree_checksum(root.parent)
    summary = caption(root, model, captioner="blip2", dry_run=True, max_length=6, min_length=2)
    assert summary["planned"] == 4 and tree_checksum(root.parent) == before
    assert all(edit["new"] and edit["created"] for edit in summary["edits"])


def test_florence2_runs_from_a_separate_python(colour_dataset, tmp_path, monkeypatch):
    """KOHYA_WRAP_TEST_FLORENCE_PYTHON: a Python with transformers >= 4.56 (the pinned 4.54.1 has no Florence-2)."""
    import subprocess

    python = os.environ.get("KOHYA_WRAP_TEST_FLORENCE_PYTHON")
    if not python:
        pytest.skip("KOHYA_WRAP_TEST_FLORENCE_PYTHON is not set")
    root, _ = colour_dataset
    model = tmp_path / "florence2"
    subprocess.run([python, tiny_models.__file__, "florence2", str(model)], check=True, capture_output=True)
    monkeypatch.delenv("KOHYA_WRAP_CAPTION_PYTHON")
    request = AutoRequest(root=root, captioner="florence2", model_dir=model, style=Style(trigger="ohwx"),
                          batch_size=2, python=python, options={"max_length": 8, "device": "cpu"})
    summary = run_auto_captions(request)
    assert summary["python"] == python and summary["written"] == 4
    assert all(edit["new"].startswith("ohwx, ") and len(edit["new"]) > 6 for edit in summary["edits"])

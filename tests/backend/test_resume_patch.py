"""Patch 0003 (a resumed run keeps its step count): how a checkout counts, and the pin still recognising a
patched tree by its fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from kohya_wrap.backend import patches
from kohya_wrap.backend.pin import Pin, fingerprint_mismatches, git_blob_id


def _resume_patch() -> patches.Patch:
    return next(p for p in patches.load_patches() if p.name == patches.RESUME_PATCH)


def _upstream_like(root: Path) -> str:
    """A train_network.py holding the patch's anchors between other lines, as the pinned file does."""
    text = "import math\n\n" + "\n# ...\n".join(hunk.anchor for hunk in _resume_patch().hunks) + "\nprint('end')\n"
    (root / "train_network.py").write_text(text)
    return text


def test_a_pristine_checkout_restarts_and_a_patched_one_keeps_the_count(tmp_path):
    _upstream_like(tmp_path)
    assert patches.resume_counting(tmp_path) == patches.RESTARTS
    patches.apply_patches(tmp_path, patches.plan_patches(tmp_path, [_resume_patch()]))
    patched = (tmp_path / "train_network.py").read_text()
    assert "global_step = resumed_global_step" in patched and "initial=resumed_global_step" in patched
    assert patches.resume_counting(tmp_path) == patches.KEPT


@pytest.mark.parametrize("content", [None, "print('another trainer')\n"])
def test_a_tree_that_is_not_the_pinned_file_is_unknown(tmp_path, content):
    if content is not None:
        (tmp_path / "train_network.py").write_text(content)
    assert patches.resume_counting(tmp_path) == patches.UNKNOWN


def test_the_fingerprint_still_matches_a_tree_our_patch_changed(tmp_path):
    upstream = _upstream_like(tmp_path)
    pin = Pin(url="u", commit="c" * 40, entry_script="sdxl_train_network.py",
              fingerprint={"train_network.py": git_blob_id(upstream.encode())})
    patches.apply_patches(tmp_path, patches.plan_patches(tmp_path, [_resume_patch()]))
    assert fingerprint_mismatches(tmp_path, pin) == []
    (tmp_path / "train_network.py").write_text((tmp_path / "train_network.py").read_text() + "# my edit\n")
    assert fingerprint_mismatches(tmp_path, pin) == ["train_network.py"]


def test_upstream_text_and_revert_give_back_the_pinned_text(tmp_path):
    upstream = _upstream_like(tmp_path)
    statuses = patches.plan_patches(tmp_path, [_resume_patch()])
    patches.apply_patches(tmp_path, statuses)
    assert patches.upstream_text(tmp_path, "train_network.py") == upstream
    patches.revert_patches(tmp_path, patches.plan_patches(tmp_path, [_resume_patch()]))
    assert (tmp_path / "train_network.py").read_text() == upstream

"""Caption tools: idempotent edits, fill, normalise, tag counts; source folders only with --in-place + backup."""

from __future__ import annotations

import zipfile

import pytest

from kohya_wrap.dataset import captions as cap
from kohya_wrap.dataset.prepare import apply_prepare, plan_prepare
from kohya_wrap.errors import DatasetError

from . import corpus
from .conftest import make_image


@pytest.fixture
def prepared(tmp_path):
    src = tmp_path / "src"
    for name in ("a", "b", "c", "d_e-f"):
        make_image(src / f"{name}.png", seed=len(name))
    (src / "a.txt").write_bytes(b"\xef\xbb\xbfred car,  shiny , red car\r\nsecond line")
    (src / "b.txt").write_bytes("ohwx, blue car".encode())
    (src / "c.txt").write_bytes("caf\xe9 racer".encode("latin-1"))
    apply_prepare(plan_prepare([src], tmp_path / "out", token="ohwx", class_tokens="car", repeats=3))
    return tmp_path / "out" / "img", src


def _apply(root, edits):
    cap.apply_edits(edits, root)
    return {e.path.name: e.path.read_text(encoding="utf-8") for e in edits}


def test_add_trigger_is_idempotent(prepared):
    root, _ = prepared
    written = _apply(root, cap.plan_add_trigger(cap.targets(root), "ohwx"))
    assert written == {"a.txt": "ohwx, red car,  shiny , red car\nsecond line", "c.txt": "ohwx, café racer"}
    assert cap.plan_add_trigger(cap.targets(root), "ohwx") == []


def test_prefix_and_suffix_are_idempotent_and_touch_the_first_line(prepared):
    root, _ = prepared
    _apply(root, cap.plan_affix(cap.targets(root), "photo of", "prefix"))
    written = _apply(root, cap.plan_affix(cap.targets(root), "high quality", "suffix"))
    assert written["b.txt"] == "photo of, ohwx, blue car, high quality"
    assert written["a.txt"].split("\n")[0].endswith("red car, high quality")
    assert cap.plan_affix(cap.targets(root), "photo of", "prefix") == []
    assert cap.plan_affix(cap.targets(root), "high quality", "suffix") == []


def test_fill_creates_only_missing_captions(prepared):
    root, _ = prepared
    from_class = cap.plan_fill(cap.targets(root), "class", ".txt")
    assert [(e.path.name, e.new, e.old) for e in from_class] == [("d_e-f.txt", "ohwx car", None)]
    from_name = cap.plan_fill(cap.targets(root), "filename", ".txt")
    assert [e.new for e in from_name] == ["d e f"]
    _apply(root, from_class)
    assert cap.plan_fill(cap.targets(root), "class", ".txt") == []


def test_normalise_fixes_encoding_bom_lines_and_duplicates(prepared):
    root, _ = prepared
    written = _apply(root, cap.plan_normalise(cap.targets(root), lowercase=True))
    assert written == {"a.txt": "red car, shiny, second line", "c.txt": "café racer"}
    assert (root / "3_ohwx car" / "a.txt").read_bytes().startswith(b"red car")
    assert cap.plan_normalise(cap.targets(root), lowercase=True) == []


def test_tag_frequencies_count_first_lines(prepared):
    root, _ = prepared
    counts = dict(cap.tag_frequencies(cap.targets(root)))
    assert counts["red car"] == 1 and counts["ohwx"] == 1 and "second line" not in counts


def test_source_folder_needs_in_place_and_gets_a_backup(prepared, tmp_path):
    _, src = prepared
    before = corpus.tree_checksum(src)
    edits = cap.plan_add_trigger(cap.targets(src), "ohwx")
    with pytest.raises(DatasetError, match="--in-place"):
        cap.apply_edits(edits, src)
    assert corpus.tree_checksum(src) == before
    old = (src / "a.txt").read_bytes()
    backup = cap.apply_edits(edits, src, in_place=True, backup_dir=tmp_path / "backups")
    with zipfile.ZipFile(backup) as archive:
        assert archive.read(str(src / "a.txt").lstrip("/")) == old
    assert (src / "a.txt").read_text().startswith("ohwx, ")
    second = cap.apply_edits(cap.plan_fill(cap.targets(src), "class", ".txt", "car"), src, in_place=True,
                             backup_dir=tmp_path / "backups")
    assert second != backup and second.exists() and backup.exists()


def test_cli_captions_dry_run_and_json(prepared, cli):
    root, _ = prepared
    dry = cli("data", "captions", root, "add-trigger", "ohwx", "--dry-run")
    assert dry.exit_code == 0 and "Would change 2" in dry.output
    assert cap.plan_add_trigger(cap.targets(root), "ohwx") != []
    tags = cli("data", "captions", root, "tags", "--json")
    assert tags.exit_code == 0 and '"tag": "red car"' in tags.output


def test_fill_without_any_text_is_refused_not_skipped(tmp_path):
    make_image(tmp_path / "flat" / "img.png")
    with pytest.raises(DatasetError, match="no class tokens"):
        cap.plan_fill(cap.targets(tmp_path / "flat"), "class", ".txt")
    assert [e.new for e in cap.plan_fill(cap.targets(tmp_path / "flat"), "class", ".txt", "a dog")] == ["a dog"]

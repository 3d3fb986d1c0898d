"""The content-hash cache: unchanged files are not read again, changed ones are, renamed ones are not decoded."""

from __future__ import annotations

import json
import os

from kohya_wrap.dataset import probe
from kohya_wrap.dataset.check import INLINE_LIMIT, check_dataset, image_sizes
from kohya_wrap.dataset.scan import scan_dataset

from .conftest import make_image


def _check(root, cache, decode=True, workers=1):
    subsets = scan_dataset(root).subsets
    return check_dataset(subsets, resolution=1024, min_bucket_reso=256, caption_extension=".txt",
                         cache_path=cache, decode=decode, workers=workers)


def _counting(monkeypatch):
    calls = []
    original = probe.image_facts

    def counted(data, decode):
        calls.append(decode)
        return original(data, decode)

    monkeypatch.setattr(probe, "image_facts", counted)
    return calls


def _dataset(tmp_path, count=6):
    root = tmp_path / "train"
    for index in range(count):
        make_image(root / "2_x" / f"i{index}.png", (256, 256), index)
    (root / "2_x" / "i0.txt").write_text("x, a\r\n")
    return root


def test_recheck_of_unchanged_set_reads_nothing(tmp_path, monkeypatch):
    root, cache = _dataset(tmp_path), tmp_path / "cache.json"
    calls = _counting(monkeypatch)
    first = _check(root, cache)
    assert len(calls) == 6 and cache.is_file()
    calls.clear()
    assert _check(root, cache) == first
    assert calls == []


def test_changed_file_is_inspected_again(tmp_path, monkeypatch):
    root, cache = _dataset(tmp_path), tmp_path / "cache.json"
    _check(root, cache)
    calls = _counting(monkeypatch)
    target = root / "2_x" / "i3.png"
    target.write_bytes(target.read_bytes()[:100])  # now truncated
    findings = _check(root, cache)
    assert calls == [True]
    assert ("truncated", str(target)) in {(f.code, f.path) for f in findings}


def test_renamed_file_is_matched_by_content_hash_without_decoding(tmp_path, monkeypatch):
    root, cache = _dataset(tmp_path), tmp_path / "cache.json"
    _check(root, cache)
    calls = _counting(monkeypatch)
    os.rename(root / "2_x" / "i5.png", root / "2_x" / "renamed.png")
    _check(root, cache)
    assert calls == []
    entries = json.loads(cache.read_text())["by_path"]
    assert str(root / "2_x" / "renamed.png") in entries and str(root / "2_x" / "i5.png") not in entries


def test_header_only_facts_do_not_answer_a_full_check(tmp_path, monkeypatch):
    root, cache = _dataset(tmp_path), tmp_path / "cache.json"
    bad = root / "2_x" / "i2.png"
    bad.write_bytes(bad.read_bytes()[:150])
    assert "truncated" not in {f.code for f in _check(root, cache, decode=False)}
    calls = _counting(monkeypatch)
    assert "truncated" in {f.code for f in _check(root, cache, decode=True)}
    assert calls == [True] * 6
    calls.clear()
    _check(root, cache, decode=False)  # full facts answer a header-only check
    assert calls == []


def test_damaged_cache_file_only_costs_time(tmp_path):
    root, cache = _dataset(tmp_path), tmp_path / "cache.json"
    expected = _check(root, None)
    cache.write_text("{not json")
    assert _check(root, cache) == expected
    assert json.loads(cache.read_text())["version"] == 1


def test_process_pool_gives_the_same_findings(tmp_path):
    root = _dataset(tmp_path, count=INLINE_LIMIT + 8)
    (root / "2_x" / "i1.png").write_bytes(b"")
    inline = _check(root, None, workers=1)
    pooled = _check(root, None, workers=2)
    assert pooled == inline and "zero-byte" in {f.code for f in pooled}


def test_progress_reports_every_file(tmp_path):
    root = _dataset(tmp_path)
    seen = []
    subsets = scan_dataset(root).subsets
    check_dataset(subsets, resolution=1024, min_bucket_reso=256, caption_extension=".txt", workers=1,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (7, 7) and seen[0][0] == 0


def test_image_sizes_reads_headers_and_reports_unreadable(tmp_path):
    root = _dataset(tmp_path)
    (root / "2_x" / "bad.png").write_bytes(b"not an image")
    images = scan_dataset(root).subsets[0].images
    sizes, problems = image_sizes(images, workers=1)
    assert len(sizes) == 6 and set(sizes.values()) == {(256, 256)}
    assert [(p.code, os.path.basename(p.path)) for p in problems] == [("not-an-image", "bad.png")]

"""The fault corpus: every malformed case is reported, nothing crashes, the source tree never changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kohya_wrap.dataset.check import check_dataset
from kohya_wrap.dataset.findings import has_errors
from kohya_wrap.dataset.scan import scan_dataset

from . import corpus
from .conftest import TOKENIZERS


def _findings(root: Path, decode: bool = True):
    result = scan_dataset(root)
    return result.findings + check_dataset(result.subsets, resolution=(1024, 1024), min_bucket_reso=256,
                                           caption_extension=".txt", decode=decode, tokenizer_dir=TOKENIZERS)


def _missing(root: Path, cases, findings) -> list[str]:
    got = {(f.code, f.path) for f in findings}
    return [f"{c.name}: expected {c.code} at {c.rel}" for c in cases
            if (c.code, str(root / c.rel) if c.rel else str(root)) not in got]


def test_corpus_is_large_and_varied(fault_corpus):
    _, cases = fault_corpus
    assert len(cases) >= 40
    assert len({case.code for case in cases}) >= 35


def test_every_fault_is_found_with_full_decode(fault_corpus):
    root, cases = fault_corpus
    findings = _findings(root)
    assert _missing(root, cases, findings) == []
    assert has_errors(findings)


def test_header_only_check_finds_all_but_damaged_pixel_data(fault_corpus):
    root, cases = fault_corpus
    findings = _findings(root, decode=False)
    assert _missing(root, [c for c in cases if not c.needs_decode], findings) == []
    decode_only = [c for c in cases if c.needs_decode]
    assert decode_only and len(_missing(root, decode_only, findings)) == len(decode_only)


def test_each_finding_has_severity_message_and_known_shape(fault_corpus):
    root, _ = fault_corpus
    for finding in _findings(root):
        data = finding.to_dict()
        assert set(data) == {"severity", "code", "path", "message", "hint"}
        assert data["severity"] in {"error", "warning", "info"} and data["message"]
        if data["severity"] == "error":
            assert data["hint"], data


@pytest.mark.parametrize("name", ["empty root", "flat root", "only unusable folders"])
def test_layout_roots(tmp_path, name):
    root, case = next((r, c) for r, c in corpus.build_layout_roots(tmp_path) if c.name == name)
    result = scan_dataset(root)
    assert (case.code, str(root)) in {(f.code, f.path) for f in result.findings}
    if name == "flat root":
        assert [(s.num_repeats, s.class_tokens, len(s.images)) for s in result.subsets] == [(1, None, 1)]
    else:
        assert has_errors(result.findings)


def test_cli_check_reports_corpus_as_json_and_exits_2(fault_corpus, cli):
    root, cases = fault_corpus
    result = cli("data", "check", root, "--json", "--workers", "2")
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    codes = {f["code"] for f in payload["findings"]}
    assert {c.code for c in cases} <= codes
    assert "Traceback" not in result.output


def test_source_tree_unchanged_after_check_prepare_and_captions(fault_corpus, cli, tmp_path):
    root, _ = fault_corpus
    before = corpus.tree_checksum(root)
    subset = root / corpus.SUBSET
    assert cli("data", "check", root).exit_code == 2
    assert cli("data", "check", root, "--fast", "--no-cache").exit_code == 2
    assert cli("data", "scan", root, "--json").exit_code == 0
    assert cli("data", "preview", root).exit_code == 0
    assert cli("data", "prepare", subset, "--out", tmp_path / "dry", "--token", "ohwx", "--dry-run").exit_code == 0
    assert not (tmp_path / "dry").exists()
    converted = cli("data", "prepare", subset, "--out", tmp_path / "conv", "--token", "ohwx", "--class", "woman",
                    "--repeats", "4", "--resize", "512", "--pad", "--format", "png", "--flatten-alpha", "white",
                    "--json")
    assert converted.exit_code == 0, converted.output
    failed = {f["path"] for f in json.loads(converted.stdout)["findings"] if f["code"] == "convert-failed"}
    assert str(subset / "noise.jpg") in failed and str(subset / "bomb.png") in failed
    assert cli("data", "prepare", subset, "--out", tmp_path / "copy", "--token", "ohwx").exit_code == 0
    assert cli("data", "prepare", subset, "--out", tmp_path / "link", "--token", "ohwx", "--link").exit_code == 0
    prepared = tmp_path / "copy" / "img"
    for verb in (["add-trigger", "ohwx"], ["prefix", "photo of"], ["suffix", "high quality"], ["fill"],
                 ["normalise", "--lowercase"], ["tags"]):
        outcome = cli("data", "captions", prepared, *verb)
        assert outcome.exit_code == 0, (verb, outcome.output)
    refused = cli("data", "captions", root, "add-trigger", "ohwx")
    assert refused.exit_code == 2 and "--in-place" in refused.output
    assert cli("data", "captions", tmp_path / "link" / "img", "normalise").exit_code == 0
    assert corpus.tree_checksum(root) == before

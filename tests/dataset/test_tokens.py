"""CLIP token counts from the offline tokenizer's merges (ids in the fixture README were checked against HF)."""

from __future__ import annotations

import pytest

from kohya_wrap.dataset.tokens import TokenCounter, find_merges

from .conftest import TOKENIZERS


@pytest.fixture(scope="module")
def counter():
    return TokenCounter.load(TOKENIZERS)


@pytest.mark.parametrize("text, count", [
    ("a photo of a cat", 5),  # [49406, 320, 1125, 539, 320, 2368, 49407] without BOS/EOS
    ("Hello, world!", 4),  # [49406, 3306, 267, 1002, 256, 49407]
    ("A PHOTO of  a Cat!", 6),
    ("", 0),
])
def test_counts_match_known_clip_ids(counter, text, count):
    assert counter.exact
    assert counter.count(text) == count


def test_rare_words_split_into_several_pieces(counter):
    assert counter.count("ohwx") == 1  # why it is a popular trigger word: one rare token
    assert counter.count("kohyawrap") == 4  # ko hy aw rap
    assert counter.count("ohwx woman, " * 40) == 120


def test_without_tokenizer_files_counts_are_an_estimate(tmp_path):
    assert find_merges(tmp_path) is None
    estimate = TokenCounter.load(tmp_path)
    assert not estimate.exact
    assert estimate.count("a photo of a cat") == 5
    assert estimate.count("kohyawrap") == 1  # a lower bound: the real tokenizer needs 4 pieces

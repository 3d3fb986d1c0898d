"""Fixtures for dataset tests: the generated fault corpus and small valid layouts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from . import corpus

TOKENIZERS = Path(__file__).resolve().parents[1] / "fixtures" / "clip-tokenizers"


@pytest.fixture(scope="module")
def fault_corpus(tmp_path_factory):
    """(root, cases): one malformed file or folder per case, generated fresh for each test module."""
    root = tmp_path_factory.mktemp("corpus") / "train"
    return root, corpus.build(root)


def make_image(path: Path, size=(64, 64), seed: int = 0, fmt: str | None = None, mode: str = "RGB") -> Path:
    """A small image with unique content (so no two generated images are duplicates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = hashlib.shake_256(f"{path.name}-{seed}".encode()).digest(size[0] * size[1] * len(mode))
    Image.frombytes(mode, size, raw).save(path, fmt)
    return path


@pytest.fixture
def layout(tmp_path):
    """train/10_ohwx woman (3 images, 2 captions) and reg/1_woman (2 images)."""
    train = tmp_path / "train"
    subset = train / "10_ohwx woman"
    for index in range(3):
        make_image(subset / f"img{index}.png", (1024, 768), index)
    (subset / "img0.txt").write_text("ohwx woman, smiling")
    (subset / "img1.txt").write_text("ohwx woman, outdoors")
    reg = tmp_path / "reg"
    for index in range(2):
        make_image(reg / "1_woman" / f"r{index}.jpg", (768, 1024), index)
    return train, reg

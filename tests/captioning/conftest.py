"""Fixtures: tiny models built once per session, prepared datasets of coloured images, the child's Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

from kohya_wrap.dataset.prepare import apply_prepare, plan_prepare

from . import tiny_models

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "black": (0, 0, 0)}


@pytest.fixture(autouse=True)
def child_python(monkeypatch):
    """The captioning child runs in this interpreter (it has the packages when the tests that need them run)."""
    monkeypatch.setenv("KOHYA_WRAP_CAPTION_PYTHON", sys.executable)
    return sys.executable


@pytest.fixture(scope="session")
def tagger_dir(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    return tiny_models.build_tagger(tmp_path_factory.mktemp("models") / "tagger")


@pytest.fixture(scope="session")
def blip_dir(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return tiny_models.build_blip(tmp_path_factory.mktemp("models") / "blip")


def make_source(folder: Path, names: dict[str, tuple], captions: dict[str, str] | None = None) -> Path:
    """Flat folder of images: name -> (colour, size[, mode]); optional caption text per name."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, spec in names.items():
        colour, size = spec[0], spec[1]
        mode = spec[2] if len(spec) > 2 else "RGB"
        fill = (0, 0, 0, 0) if mode == "RGBA" else COLOURS[colour]
        Image.new(mode, size, fill).save(folder / f"{name}.png")
    for name, text in (captions or {}).items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def prepare(src: Path, out: Path) -> Path:
    """`data prepare SRC --out OUT --token ohwx --class thing --repeats 2`; returns OUT/img."""
    apply_prepare(plan_prepare([src], out, token="ohwx", class_tokens="thing", repeats=2))
    return out / "img"


@pytest.fixture
def colour_dataset(tmp_path):
    """(prepared img root, source folder): red, green, blue squares, a wide red, a transparent one; b has a caption."""
    src = make_source(tmp_path / "src", {"a_red": ("red", (64, 64)), "b_green": ("green", (64, 64)),
                                         "c_blue": ("blue", (64, 64)), "d_wide_red": ("red", (64, 32)),
                                         "e_clear": (None, (48, 48), "RGBA")},
                      captions={"b_green": "my own words, green_theme"})
    return prepare(src, tmp_path / "out"), src


def subset_dir(root: Path) -> Path:
    return root / "2_ohwx thing"


def read_caption(root: Path, stem: str) -> str | None:
    path = subset_dir(root) / f"{stem}.txt"
    return path.read_text(encoding="utf-8") if path.exists() else None

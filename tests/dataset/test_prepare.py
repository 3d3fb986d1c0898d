"""data prepare: a pure plan, then a new layout; sources are never written to."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from kohya_wrap.dataset.prepare import MANIFEST, apply_prepare, plan_prepare
from kohya_wrap.dataset.scan import scan_dataset
from kohya_wrap.errors import DatasetError

from . import corpus
from .conftest import make_image


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "photos"
    make_image(src / "a.png", (1200, 800), 1)
    make_image(src / "a.jpg", (800, 1200), 2, "JPEG")  # same stem as a.png
    make_image(src / "B.Png", (640, 640), 3)  # mixed-case extension sd-scripts would skip
    (src / "a.txt").write_text("a red car")
    make_image(src / "nested" / "c.png")
    return src


def test_plan_writes_nothing_and_lists_every_action(photos, tmp_path):
    before = corpus.tree_checksum(tmp_path)
    plan = plan_prepare([photos], tmp_path / "out", token="ohwx", class_tokens="car", repeats=10)
    assert corpus.tree_checksum(tmp_path) == before and not (tmp_path / "out").exists()
    dests = sorted(str(a.dest.relative_to(plan.out)) for a in plan.actions)
    # a.jpg sorts first and keeps the name; a.png becomes a-2 and both keep the caption they shared
    assert dests == ["img/10_ohwx car/B.png", "img/10_ohwx car/a-2.png", "img/10_ohwx car/a-2.txt",
                     "img/10_ohwx car/a.jpg", "img/10_ohwx car/a.txt"]
    assert {f.code for f in plan.findings} == {"nested-images", "caption-lacks-trigger"}
    assert "10_ohwx car" in "\n".join(plan.lines())


def test_apply_builds_a_layout_scan_accepts(photos, tmp_path):
    reg = tmp_path / "regsrc"
    make_image(reg / "r.png")
    before = corpus.tree_checksum(photos)
    plan = plan_prepare([photos], tmp_path / "out", token="ohwx", class_tokens="car", repeats=10, reg=[reg],
                        reg_repeats=2)
    summary = apply_prepare(plan)
    assert corpus.tree_checksum(photos) == before
    result = scan_dataset(tmp_path / "out" / "img", tmp_path / "out" / "reg")
    assert [(s.num_repeats, s.class_tokens, s.is_reg, len(s.images)) for s in result.subsets] == [
        (10, "ohwx car", False, 3), (2, "car", True, 1)]
    assert summary["written"] == 6
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["settings"]["repeats"] == 10


def test_link_mode_symlinks_images_and_copies_captions(photos, tmp_path):
    apply_prepare(plan_prepare([photos], tmp_path / "out", token="ohwx", mode="link"))
    folder = tmp_path / "out" / "img" / "1_ohwx"
    assert (folder / "a.jpg").is_symlink() and (folder / "a.jpg").resolve() == photos / "a.jpg"
    assert not (folder / "a.txt").is_symlink() and (folder / "a.txt").read_text() == "a red car"


def test_convert_flattens_alpha_pads_and_fixes_orientation(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    clear = Image.new("RGBA", (400, 200), (255, 0, 0, 0))
    clear.paste((0, 0, 255, 255), (0, 0, 100, 200))
    clear.save(src / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (300, 200), (0, 200, 0)).save(src / "turned.jpg", exif=exif.tobytes())
    apply_prepare(plan_prepare([src], tmp_path / "out", token="t", resize=256, fit="pad",
                               image_format="png", flatten_alpha="white"))
    folder = tmp_path / "out" / "img" / "1_t"
    alpha = Image.open(folder / "alpha.png")
    assert alpha.mode == "RGB" and alpha.size == (256, 256)
    assert alpha.getpixel((200, 128)) == (255, 255, 255) and alpha.getpixel((10, 128)) == (0, 0, 255)
    turned = Image.open(folder / "turned.png")
    # rotated to portrait (200x300), so the padding (in the flatten colour) is left and right
    assert turned.size == (256, 256) and turned.getpixel((5, 128)) == (255, 255, 255)
    assert turned.getpixel((128, 5))[1] > 150


def test_16bit_grey_is_scaled_to_8_bits_not_clipped(tmp_path):
    import numpy as np

    src = tmp_path / "src"
    src.mkdir()
    values = (np.arange(64 * 64, dtype=np.uint16) * 7).reshape(64, 64)  # up to 28665 of 65535
    Image.fromarray(values).save(src / "deep.png")
    apply_prepare(plan_prepare([src], tmp_path / "out", token="t", image_format="png"))
    deep = Image.open(tmp_path / "out" / "img" / "1_t" / "deep.png")
    assert deep.mode == "L" and deep.getextrema() == (0, 28665 >> 8)  # a plain convert would give 255 nearly everywhere


def test_nearest_resampling_keeps_pixel_art_colours(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    art = Image.new("RGB", (16, 16), (0, 0, 0))
    for x in range(0, 16, 2):
        for y in range(16):
            art.putpixel((x, y), (255, 255, 0))
    art.save(src / "art.png")
    for resample in ("nearest", "lanczos"):
        apply_prepare(plan_prepare([src], tmp_path / resample, token="t", resize=128, fit="crop",
                                   resample=resample))
    crisp = Image.open(tmp_path / "nearest" / "img" / "1_t" / "art.png")
    soft = Image.open(tmp_path / "lanczos" / "img" / "1_t" / "art.png")
    assert crisp.size == (128, 128) and len(crisp.getcolors(1 << 16)) == 2
    assert len(soft.getcolors(1 << 16)) > 2


@pytest.mark.parametrize("kwargs, message", [
    ({"repeats": 0}, "at least 1"),
    ({"fit": "pad"}, "need --resize"),
    ({"token": None}, "--token and/or --class"),
    ({"flatten_alpha": "not-a-colour"}, "Unknown colour"),
    ({"mode": "link", "image_format": "png"}, "--link cannot"),
])
def test_bad_options_are_refused_before_anything_is_written(photos, tmp_path, kwargs, message):
    options = {"token": "ohwx", **kwargs}
    with pytest.raises(DatasetError, match=message):
        plan_prepare([photos], tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_out_inside_a_source_or_not_empty_is_refused(photos, tmp_path):
    with pytest.raises(DatasetError, match="inside source"):
        plan_prepare([photos], photos / "prepared", token="ohwx")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        plan_prepare([photos], tmp_path / "full", token="ohwx")

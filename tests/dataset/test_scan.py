"""Folder-repeat layout rules as sd-scripts applies them, and what we report about them."""

from __future__ import annotations

import pytest

from kohya_wrap.dataset import rules
from kohya_wrap.dataset.scan import scan_dataset
from kohya_wrap.errors import DatasetError

from .conftest import make_image


@pytest.mark.parametrize("name, expected", [
    ("10_ohwx woman", (10, "ohwx woman")),
    ("1_a_b", (1, "a_b")),
    ("10", (10, "")),
    (" 3_x", (3, "x")),  # int() accepts surrounding blanks, so sd-scripts does too
    ("0_off", (0, "off")),
    ("-1_neg", (-1, "neg")),
    ("ohwx_10", (None, "")),
    ("x10_y", (None, "")),
    (".5_hidden", (None, "")),
])
def test_parse_folder_name(name, expected):
    assert rules.parse_folder_name(name) == expected


def test_listing_is_exact_case_non_recursive_and_skips_hidden(tmp_path):
    for name in ["b.png", "a.JPG", "c.Png", ".d.png", "e.jpeg", "f.gif", "g.WEBP", "h.bmp", "i.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "j.png").write_bytes(b"x")
    assert [p.name for p in rules.list_images(tmp_path)] == ["a.JPG", "b.png", "e.jpeg", "g.WEBP", "h.bmp"]


def test_caption_lookup_follows_face_crop_fallback(tmp_path):
    image = tmp_path / "10_x" / "face_1_2_3_4.png"
    image.parent.mkdir()
    assert rules.find_caption(image, ".txt") == (None, False)
    (image.parent / "face.txt").write_text("a")
    assert rules.find_caption(image, ".txt") == (image.parent / "face.txt", True)
    (image.parent / "face_1_2_3_4.txt").write_text("b")
    assert rules.find_caption(image, ".txt") == (image.parent / "face_1_2_3_4.txt", False)


def test_scan_builds_train_and_reg_subsets(layout):
    train, reg = layout
    result = scan_dataset(train, reg)
    first, second = result.subsets
    assert (first.num_repeats, first.class_tokens, first.is_reg, len(first.images)) == (10, "ohwx woman", False, 3)
    assert first.missing_captions == [train / "10_ohwx woman" / "img2.png"]
    assert first.to_dataset_toml() == {"image_dir": str(train / "10_ohwx woman"), "num_repeats": 10,
                                       "class_tokens": "ohwx woman"}
    assert second.to_dataset_toml() == {"image_dir": str(reg / "1_woman"), "num_repeats": 1,
                                        "class_tokens": "woman", "is_reg": True}
    codes = [(f.code, f.severity) for f in result.findings]
    assert codes.count(("missing-caption", "info")) == 3
    assert not any(severity == "error" for _, severity in codes)


def test_flat_folder_becomes_one_subset_with_one_repeat(tmp_path):
    make_image(tmp_path / "photos" / "a.png")
    result = scan_dataset(tmp_path / "photos")
    assert [(s.num_repeats, s.class_tokens, s.image_dir) for s in result.subsets] == [(1, None, tmp_path / "photos")]
    assert sorted(f.code for f in result.findings) == ["flat-folder", "no-caption-no-class"]


def test_repeat_folder_given_directly_keeps_its_name(tmp_path):
    make_image(tmp_path / "5_ohwx dog" / "a.png")
    result = scan_dataset(tmp_path / "5_ohwx dog")
    assert [(s.num_repeats, s.class_tokens) for s in result.subsets] == [(5, "ohwx dog")]
    assert "would find no data" in next(f.message for f in result.findings if f.code == "flat-folder")


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nope")


def test_skipped_folders_are_reported_not_silent(tmp_path):
    make_image(tmp_path / "10_ok" / "a.png")
    make_image(tmp_path / "photos" / "b.png")
    make_image(tmp_path / "0_off" / "c.png")
    (tmp_path / "notes").mkdir()
    result = scan_dataset(tmp_path)
    assert [s.image_dir.name for s in result.subsets] == ["10_ok"]
    found = {(f.code, f.path.rsplit("/", 1)[-1]) for f in result.findings}
    assert {("bad-folder-name", "photos"), ("zero-repeats", "0_off"), ("ignored-folder", "notes")} <= found


def test_duplicate_reg_root_is_marked_reg(tmp_path):
    make_image(tmp_path / "reg" / "a.png")
    make_image(tmp_path / "train" / "1_x" / "b.png")
    result = scan_dataset(tmp_path / "train", tmp_path / "reg")
    assert [s.is_reg for s in result.subsets] == [False, True]

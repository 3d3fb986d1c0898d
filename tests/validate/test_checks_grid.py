"""Perceptual hashes, the automatic checks and the grid on hand-made images (numpy and Pillow only)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kohya_wrap.validate import checks, hashes, record
from kohya_wrap.validate.grid import Column, Row, make_grid


def _noise(seed: int, size: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    smooth = rng.random((8, 8, 3))
    big = np.kron(smooth, np.ones((size // 8, size // 8, 1)))
    return Image.fromarray((big * 255).astype("uint8"))


def test_hashes_are_stable_near_for_small_changes_and_far_for_other_images():
    image = _noise(1)
    brighter = Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + 6, 0, 255).astype("uint8"))
    assert hashes.phash(image) == hashes.phash(image.copy())
    assert hashes.distance(hashes.phash(image), hashes.phash(brighter)) <= 4
    assert hashes.distance(hashes.dhash(image), hashes.dhash(brighter)) <= 4
    assert hashes.distance(hashes.phash(image), hashes.phash(_noise(2))) > 16
    assert hashes.phash(image) < 2**64 and hashes.dhash(image) < 2**64


def test_dct_basis_is_orthonormal():
    basis = hashes._dct_matrix(32)
    assert np.allclose(basis @ basis.T, np.eye(32))


def _write(run_dir, name, image):
    path = run_dir / "images" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return f"images/{name}"


def _entry(run_dir, name, image, lora, strength, digest="d", finite=True):
    return {"id": name, "path": _write(run_dir, f"{name}.png", image), "prompt_index": 0, "seed": 1, "lora": lora,
            "strength": strength, "sha256": digest, "finite": finite}


def test_strength_zero_mismatch_no_effect_and_nan_are_caught(tmp_path):
    base, other = _noise(1), _noise(2)
    images = [_entry(tmp_path, "base", base, None, None, "b"),
              _entry(tmp_path, "good0", base, "good", 0.0, "b"),
              _entry(tmp_path, "good1", other, "good", 1.0, "g"),
              _entry(tmp_path, "bad0", other, "bad", 0.0, "x"),
              _entry(tmp_path, "flat1", base, "flat", 1.0, "b", finite=False)]
    zero = checks.check_strength_zero(images, tmp_path)
    assert zero["checked"] == 2 and [m["path"] for m in zero["mismatches"]] == ["images/bad0.png"]
    effect = checks.pixel_differences(images, tmp_path)
    assert effect["mean_abs_diff"]["good"]["1"] > 10 and effect["mean_abs_diff"]["flat"]["1"] == 0
    assert effect["no_effect"] == ["flat"]  # "bad" has only strength 0, which is not an effect
    assert checks.check_finite(images) == {"ok": False, "bad": ["images/flat1.png"]}


def test_an_image_that_copies_a_training_image_is_flagged(tmp_path):
    training = tmp_path / "train"
    training.mkdir()
    copied = _noise(5)
    copied.save(training / "a.png")
    _noise(6).save(training / "b.png")
    (training / "notes.png").write_bytes(b"not an image")
    images = [_entry(tmp_path, "base", _noise(7), None, None),
              _entry(tmp_path, "copy", copied.resize((48, 48)), "over", 1.0),
              _entry(tmp_path, "new", _noise(8), "fine", 1.0)]
    result = checks.training_copies(images, tmp_path, sorted(training.iterdir()))
    assert result["training_images"] == 2
    assert [f["path"] for f in result["flagged"]] == ["images/copy.png"]
    assert result["nearest_by_lora"]["over"]["image"].endswith("a.png")
    assert result["nearest_by_lora"]["fine"]["phash"] > checks.COPY_DISTANCE


def test_grid_draws_labels_and_folds_nothing_it_was_not_told_to(tmp_path):
    images = [_entry(tmp_path, "base", _noise(1), None, None), _entry(tmp_path, "l1", _noise(2), "a", 1.0)]
    rows, columns = record.grid_layout(images, ["a prompt"], ["a"], [0.0, 1.0], zero_is_base=False)
    assert [c.label for c in columns] == ["base", "a @ 0", "a @ 1"]
    rows, columns = record.grid_layout(images, ["a prompt"], ["a"], [0.0, 1.0], zero_is_base=True)
    assert [c.label for c in columns] == ["base (= strength 0)", "a @ 1"]
    cells = {((0, 1), (None, None)): tmp_path / images[0]["path"], ((0, 1), ("a", 1.0)): tmp_path / images[1]["path"]}
    layout = make_grid(rows, columns, cells, tmp_path / "grid.png")
    with Image.open(tmp_path / "grid.png") as grid:
        pixels = np.asarray(grid.convert("RGB"))
    assert list(grid.size) == layout["size"]
    # the first image's top-left corner: after the label column and padding, centred in its wider column
    left, top = 240 + 4 + (layout["column_width"] - 64) // 2, 52 + 4
    assert layout["column_width"] == 150
    assert np.array_equal(pixels[top:top + 64, left:left + 64], np.asarray(_noise(1)))
    assert (pixels[:48, :] < 100).any()  # the header labels are drawn in dark ink


def test_a_missing_image_leaves_a_grey_cell(tmp_path):
    layout = make_grid([Row((0, 1), "p")], [Column((None, None), "base")], {}, tmp_path / "g.png")
    assert layout["cell"] == [512, 512]


@pytest.mark.parametrize("problems, ok_line", [([], "all checks passed"), (["x changes nothing"], "x changes nothing")])
def test_summary_line(problems, ok_line):
    line = record.summary_line({"run_id": "r1", "created_at": "2026-12-01T10:00:00", "problems": problems,
                                "settings": {"prompts": [1, 2], "seeds": [1], "width": 64, "height": 64, "steps": 2},
                                "comparison": {"lines": ["a changes the base image by 3.00 levels"]}})
    assert line.startswith("Validated 2026-12-01 (run r1): 2 prompt(s) x 1 seed(s) at 64x64, 2 steps.")
    assert ok_line in line

"""validate on the tiny SDXL pipeline through the real child: injection, strength 0 = base, checks, grid, record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.validate.conftest import PYTHON


def _pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_every_lora_layer_is_injected(tiny, validation):
    record, _, _ = validation
    parts = {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}
    expected = {part: sum(1 for name in tiny.modules if name.startswith(prefix)) for part, prefix in parts.items()}
    assert expected == {"unet": 192, "text_encoder": 12, "text_encoder_2": 60}
    for lora in record["loras"]:
        assert lora["expected"] == expected
        assert lora["injected"] == expected
        assert lora["all_injected"] and lora["key_check_ok"]


def test_strength_zero_is_bit_identical_to_the_base(validation):
    record, run_dir, _ = validation
    check = record["checks"]["strength0_identical_to_base"]
    assert check == {"ok": True, "checked": 12, "mismatches": []}
    images = record["images"]
    bases = {(i["prompt_index"], i["seed"]): i for i in images if i["lora"] is None}
    for image in (i for i in images if i["strength"] == 0):
        base = bases[(image["prompt_index"], image["seed"])]
        assert image["sha256"] == base["sha256"]
        assert np.array_equal(_pixels(run_dir / image["path"]), _pixels(run_dir / base["path"]))


def test_strength_one_changes_the_image_and_a_zero_lora_is_flagged(validation):
    record, run_dir, _ = validation
    effect = record["checks"]["pixel_difference"]["mean_abs_diff"]
    assert effect["shape_lora"]["1"] > 1.0 and effect["shape_lora-step00000002"]["1"] > 1.0
    assert effect["zero"]["1"] == 0.0
    assert record["checks"]["pixel_difference"]["no_effect"] == ["zero"]
    assert record["ok"] is False and any("zero changes nothing" in p for p in record["problems"])
    one = next(i for i in record["images"] if i["lora"] == "shape_lora" and i["strength"] == 1.0)
    base = next(i for i in record["images"] if i["lora"] is None and i["seed"] == one["seed"]
                and i["prompt_index"] == one["prompt_index"])
    assert not np.array_equal(_pixels(run_dir / one["path"]), _pixels(run_dir / base["path"]))


def test_validation_json_has_the_specified_fields(validation):
    record, run_dir, _ = validation
    on_disk = json.loads((run_dir / "validation.json").read_text())
    assert on_disk == json.loads(json.dumps(record))
    assert run_dir.parent.name == "validation" and run_dir.parent.parent.name.endswith("shape-ab12")
    settings = on_disk["settings"]
    assert settings["seeds"] == [1, 2] and settings["strengths"] == [0.0, 1.0]
    assert (settings["width"], settings["height"], settings["steps"], settings["cfg"], settings["sampler"]) == \
        (64, 64, 2, 5.0, "euler")
    assert len(on_disk["images"]) == 2 * 2 * (1 + 3 * 2)
    for image in on_disk["images"]:
        assert {"path", "prompt", "seed", "strength", "lora", "seconds", "finite"} <= set(image)
        assert (run_dir / image["path"]).is_file() and image["seconds"] > 0 and image["finite"] is True
    assert on_disk["checks"]["finite"] == {"ok": True, "bad": []}
    assert on_disk["checks"]["training_copy"]["training_images"] == 3
    assert on_disk["checks"]["training_copy"]["flagged"] == []
    assert on_disk["timing"]["seconds_per_image"] > 0 and on_disk["timing"]["peak_rss_mb"] > 0


def test_clip_scores_come_from_the_local_clip_folder(validation):
    record, _, _ = validation
    scores = [i["clip_score"] for i in record["images"]]
    assert all(isinstance(s, float) and 0 <= s <= 100 for s in scores)
    assert set(record["checks"]["clip_score"]["mean_by_column"]) == {
        "base", "shape_lora@0", "shape_lora@1", "shape_lora-step00000002@0", "shape_lora-step00000002@1",
        "zero@0", "zero@1"}


def test_grid_has_a_row_per_prompt_and_seed_and_a_column_per_lora_strength(validation):
    record, run_dir, _ = validation
    grid = record["grid"]
    assert grid["rows"] == ["shape, a red circle  (seed 1)", "shape, a red circle  (seed 2)",
                            "shape, a blue square  (seed 1)", "shape, a blue square  (seed 2)"]
    # strength 0 rendered the base exactly, so it is the base column
    assert grid["columns"] == ["base (= strength 0)", "shape_lora @ 1", "shape_lora-step00000002 @ 1", "zero @ 1"]
    with Image.open(run_dir / "grid.png") as image:
        assert image.size == tuple(grid["size"])
        cell_w, cell_h = grid["cell"]
        assert (cell_w, cell_h) == (64, 64)
        assert image.size[0] > 4 * cell_w and image.size[1] > 4 * cell_h


def test_several_loras_are_compared_and_the_differences_named(validation):
    record, _, _ = validation
    comparison = record["comparison"]
    pairs = {(p["a"], p["b"]): p["mean_abs_diff"] for p in comparison["pairwise"]}
    assert set(pairs) == {("shape_lora", "shape_lora-step00000002"), ("shape_lora", "zero"),
                          ("shape_lora-step00000002", "zero")}
    assert pairs[("shape_lora", "zero")] == pytest.approx(comparison["effect"]["shape_lora"]["1"], abs=1e-3)
    assert any(line.startswith("strongest effect:") and line.endswith("weakest: zero") for line in comparison["lines"])


def test_progress_events_arrive_for_each_image(validation):
    record, _, events = validation
    images = [e for e in events if e["type"] == "image"]
    assert [e["index"] for e in images] == list(range(1, len(record["images"]) + 1))
    assert events[0]["type"] == "loaded" and events[-1]["type"] == "done"


def test_generate_gives_the_same_image_as_validate(tiny, validation, small_settings, tmp_path):
    from kohya_wrap.validate.flow import generate
    from kohya_wrap.validate.settings import Prompt

    record, run_dir, _ = validation
    wanted = next(i for i in record["images"] if i["lora"] == "shape_lora" and i["strength"] == 1.0
                  and i["prompt_index"] == 0 and i["seed"] == 2)
    images = generate(str(tiny.final), Prompt("shape, a red circle", "blurry"), [2, 3], 1.0, small_settings,
                      tmp_path, python=PYTHON)
    assert images[0]["sha256"] == wanted["sha256"]
    assert (tmp_path / "shape_lora-w1-s2.png").read_bytes() == (run_dir / wanted["path"]).read_bytes()
    assert images[1]["sha256"] != wanted["sha256"]  # another seed, another image


def test_python_api_gives_the_same_image_as_validate(tiny, validation, small_settings):
    from kohya_wrap.validate.api import LoraGenerator

    record, run_dir, _ = validation
    generator = LoraGenerator(tiny.base, {"mine": tiny.final}, settings=small_settings)
    assert generator.loras["mine"]["injected"] == generator.loras["mine"]["expected"]
    for strength in (0.0, 1.0):
        wanted = next(i for i in record["images"] if i["lora"] == "shape_lora" and i["strength"] == strength
                      and i["prompt_index"] == 1 and i["seed"] == 1)
        array = generator.generate_array("shape, a blue square", seed=1, lora="mine", strength=strength)
        assert np.array_equal(array, _pixels(run_dir / wanted["path"]))
    base = next(i for i in record["images"] if i["lora"] is None and i["prompt_index"] == 1 and i["seed"] == 1)
    assert np.array_equal(generator.generate_array("shape, a blue square", seed=1), _pixels(run_dir / base["path"]))

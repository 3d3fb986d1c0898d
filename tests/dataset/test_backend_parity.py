"""Parity with the real sd-scripts (marked `backend`): subset counts, images with repeats, batches, steps,
per-image buckets, captions and token counts equal what sd-scripts computes for the same dataset TOML."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from kohya_wrap.dataset import rules
from kohya_wrap.dataset.buckets import assign_buckets, plan_steps
from kohya_wrap.dataset.check import image_sizes
from kohya_wrap.dataset.scan import scan_dataset
from kohya_wrap.dataset.tokens import TokenCounter

from .conftest import TOKENIZERS
from .corpus import raw_png

pytestmark = [pytest.mark.backend,
              pytest.mark.skipif(not os.environ.get("KOHYA_WRAP_SD_SCRIPTS"), reason="needs KOHYA_WRAP_SD_SCRIPTS")]

PROBE = Path(__file__).with_name("sdscripts_probe.py")
RUNS = [{"max_train_epochs": 3, "max_train_steps": None, "gradient_accumulation_steps": 1},
        {"max_train_epochs": None, "max_train_steps": 250, "gradient_accumulation_steps": 3},
        {"max_train_epochs": 2, "max_train_steps": 999, "gradient_accumulation_steps": 4},
        {"max_train_epochs": None, "max_train_steps": None, "gradient_accumulation_steps": 1}]
BUCKET_CONFIGS = [
    {"resolution": 1024, "min_bucket_reso": 256, "max_bucket_reso": 2048, "bucket_reso_steps": 64},
    {"resolution": 1024, "min_bucket_reso": 256, "max_bucket_reso": 1024, "bucket_reso_steps": 64,
     "bucket_no_upscale": True},
    {"resolution": [1024, 768], "min_bucket_reso": 320, "max_bucket_reso": 1536, "bucket_reso_steps": 32},
    {"resolution": 1024, "enable_bucket": False},
    {"resolution": 768, "min_bucket_reso": 250, "max_bucket_reso": 1000, "bucket_reso_steps": 64},
]
CAPTIONS = ["a photo of a cat", "ohwx woman, smiling, outdoors, 35mm", "Hello, world!", "café, naïve résumé",
            "東京の夜景", "emoji 🙂 test", "don't stop 42 times", "1girl, solo, long_hair, (masterpiece:1.2)",
            "kohyawrap sks zxqvbnm", ", ".join(f"tag{i}" for i in range(90)), "  spaced   out\ttext  "]


def _image(path: Path, size) -> None:
    """A PNG whose header carries the size; both sd-scripts (imagesize) and our preview read headers only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw_png(size[0], size[1], 8, 2))


def _sizes(rng: random.Random, count: int):
    return [(rng.randint(90, 4200), rng.randint(90, 4200)) for _ in range(count)]


def _layouts(base: Path) -> list[tuple[Path, Path | None]]:
    rng = random.Random(7)
    made = []
    # 1: two train subsets, one reg subset smaller than the train count
    root = base / "l1"
    for i, size in enumerate(_sizes(rng, 7)):
        _image(root / "train" / "10_ohwx woman" / f"w{i}.png", size)
    for i, size in enumerate(_sizes(rng, 5)):
        _image(root / "train" / "3_style" / f"s{i}.jpg", size)
    for i, size in enumerate(_sizes(rng, 20)):
        _image(root / "reg" / "1_woman" / f"r{i}.png", size)
    made.append((root / "train", root / "reg"))
    # 2: more reg samples than train samples, two reg subsets
    root = base / "l2"
    for i, size in enumerate(_sizes(rng, 3)):
        _image(root / "train" / "2_x" / f"t{i}.png", size)
    for i, size in enumerate(_sizes(rng, 10)):
        _image(root / "reg" / "1_y" / f"r{i}.png", size)
    for i, size in enumerate(_sizes(rng, 4)):
        _image(root / "reg" / "5_z" / f"q{i}.png", size)
    made.append((root / "train", root / "reg"))
    # 3: surprising names and caption files
    root = base / "l3" / "train"
    sub = root / "4_a_b c"
    for i, size in enumerate(_sizes(rng, 6)):
        _image(sub / f"img{i}.png", size)
    _image(sub / "upper.PNG", (1000, 700))
    _image(sub / "mixed.Png", (1000, 700))  # ignored by sd-scripts: case
    _image(sub / ".hidden.png", (1000, 700))  # ignored: hidden
    _image(sub / "nested" / "deep.png", (1000, 700))  # ignored: not recursive
    _image(sub / "face_1_2_3_4.png", (900, 900))
    (sub / "face.txt").write_text("caption by face-crop name", encoding="utf-8")
    (sub / "img0.txt").write_text("first line\nsecond line", encoding="utf-8")
    (sub / "img1.txt").write_bytes(b"windows, crlf\r\n")
    (sub / "img2.txt").write_text("  padded caption  ", encoding="utf-8")
    for i, size in enumerate(_sizes(rng, 3)):
        _image(root / "10" / f"n{i}.webp", size)  # no class tokens
    _image(root / "0_off" / "z.png", (512, 512))
    _image(root / "nonumber_x" / "z.png", (512, 512))
    made.append((root, None))
    # 4: many aspect ratios in one subset (used with every bucket config)
    root = base / "l4" / "train"
    for i, size in enumerate(_sizes(rng, 400) + [(1024, 1024), (832, 1216), (64, 64), (5000, 300), (300, 5000)]):
        _image(root / "1_shapes" / f"a{i:03}.png", size)
    made.append((root, None))
    return made


def _write_toml(path: Path, subsets: list[dict], dataset: dict, batch_size: int) -> None:
    table = {"general": {"caption_extension": ".txt"},
             "datasets": [{"batch_size": batch_size, "enable_bucket": True, **dataset, "subsets": subsets}]}
    path.write_text(tomli_w.dumps(table), encoding="utf-8")


def _ours(scan, toml_subsets, dataset: dict, batch_size: int):
    sizes, problems = image_sizes([i for s in scan.subsets for i in s.images], workers=1)
    assert problems == []
    pairs = [(table, [sizes[i] for i in s.images]) for s, table in zip(scan.subsets, toml_subsets)]
    pairs += [(t, []) for t in toml_subsets[len(scan.subsets):]]
    bucket_args = {"resolution": dataset["resolution"] if isinstance(dataset["resolution"], int)
                   else tuple(dataset["resolution"]),
                   **{k: v for k, v in dataset.items() if k in ("min_bucket_reso", "max_bucket_reso",
                                                                 "bucket_reso_steps", "bucket_no_upscale",
                                                                 "enable_bucket")}}
    plans = [plan_steps(pairs, batch_size=batch_size, gradient_accumulation_steps=run["gradient_accumulation_steps"],
                        max_train_epochs=run["max_train_epochs"], max_train_steps=run["max_train_steps"],
                        **bucket_args) for run in RUNS]
    every = [i for s in scan.subsets for i in s.images]
    buckets = dict(zip(map(str, every), assign_buckets([sizes[i] for i in every], **bucket_args)))
    return plans, buckets


def _expected_caption(image: Path, class_tokens: str | None) -> str:
    caption, _ = rules.find_caption(image, ".txt")
    if caption is None:
        return class_tokens or ""
    return caption.read_text(encoding="utf-8").splitlines()[0].strip()


def test_counts_buckets_steps_captions_and_tokens_match_sd_scripts(tmp_path):
    jobs, expectations = [], []
    for index, (train, reg) in enumerate(_layouts(tmp_path)):
        scan = scan_dataset(train, reg)
        toml_subsets = [s.to_dataset_toml() for s in scan.subsets]
        if index == 2:  # a subset sd-scripts must ignore: repeats 0 given explicitly in the TOML
            toml_subsets.append({"image_dir": str(train / "0_off"), "num_repeats": 0})
        configs = BUCKET_CONFIGS if index == 3 else [BUCKET_CONFIGS[index % 2]]
        for number, dataset in enumerate(configs):
            batch_size = [1, 3, 4][(index + number) % 3]
            toml = tmp_path / f"dataset-{index}-{number}.toml"
            _write_toml(toml, toml_subsets, dataset, batch_size)
            jobs.append({"toml": str(toml), "runs": RUNS})
            expectations.append((scan, _ours(scan, toml_subsets, dataset, batch_size)))
    spec = tmp_path / "probe.json"
    spec.write_text(json.dumps({"tokenizer_dir": str(TOKENIZERS), "captions": CAPTIONS, "jobs": jobs}))
    out = tmp_path / "probe-out.json"
    python = os.environ.get("KOHYA_WRAP_PYTHON") or sys.executable
    proc = subprocess.run([python, str(PROBE), str(spec), str(out)], cwd=os.environ["KOHYA_WRAP_SD_SCRIPTS"],
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    compared_images = 0
    for job, theirs, (scan, (plans, buckets)) in zip(jobs, result["jobs"], expectations):
        ours_subsets = [{"image_dir": str(s.image_dir), "img_count": len(s.images), "num_repeats": s.num_repeats,
                         "is_reg": s.is_reg} for s in scan.subsets if s.images]
        assert theirs["datasets"][0]["subsets"] == ours_subsets, job["toml"]
        plan = plans[0]
        assert (theirs["num_train_images"], theirs["num_reg_images"], theirs["batches"]) == (
            plan.images_with_repeats, plan.reg_images_with_repeats, plan.batches_per_epoch), job["toml"]
        assert theirs["datasets"][0]["buckets"] == [[b["resolution"], b["count"]] for b in plan.buckets]
        for run_theirs, run_plan in zip(theirs["runs"], plans):
            assert run_theirs == {"total_steps": run_plan.total_steps, "epochs": run_plan.epochs,
                                  "steps_per_epoch": run_plan.steps_per_epoch}, job["toml"]
        images = theirs["datasets"][0]["images"]
        reg_dirs = tuple(str(s.image_dir) + "/" for s in scan.subsets if s.is_reg) or ("\0",)
        assert sum(i["num_repeats"] for k, i in images.items() if k.startswith(reg_dirs)) == plan.reg_images_used
        for key, info in images.items():
            assert info["bucket"] == list(buckets[key]), (job["toml"], key, info["size"])
            compared_images += 1
        tokens_by_dir = {str(s.image_dir): s.class_tokens for s in scan.subsets}
        for subset in scan.subsets:
            for image in subset.images:
                if str(image) in images:
                    expected = _expected_caption(image, tokens_by_dir[str(subset.image_dir)])
                    assert images[str(image)]["caption"] == expected
    assert compared_images > 100
    counter = TokenCounter.load(TOKENIZERS)
    assert [counter.count(text) for text in CAPTIONS] == result["tokens"]

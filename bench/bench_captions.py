"""Benchmark `data captions auto`: captions/s by batch size (1, 4, 8) with the tiny tagger and the tiny BLIP.

One run builds the tiny models (tests/captioning/tiny_models.py: an ONNX tagger with sd-scripts' 448 px
input, a random-initialised BLIP), generates a prepared dataset of PNGs, and captions it through the real
pipeline (child process in the captioning Python, dry run so every repeat captions the same images).
The rate is the child's own images/s (model loading excluded); wall is the whole call, process start and
model load included. Each figure is the best of --repeat runs (the machine is shared).
Prints the table and writes bench/results/captions-batch.md.

usage: python bench/bench_captions.py [--images 96] [--repeat 5] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "captions-batch.md"
BATCHES = (1, 4, 8)


def make_dataset(folder: Path, count: int) -> Path:
    from PIL import Image

    from kohya_wrap.dataset.prepare import apply_prepare, plan_prepare

    raw = folder / "raw"
    raw.mkdir(parents=True)
    base = Image.linear_gradient("L").resize((384, 384))
    for index in range(count):
        Image.merge("RGB", (base, base.rotate(90), base.rotate(index * 7 % 360))).save(raw / f"img{index:04}.png")
    apply_prepare(plan_prepare([raw], folder / "ds", token="ohwx", class_tokens="thing", repeats=1))
    return folder / "ds" / "img"


def measure(root: Path, captioner: str, model: Path, python: str, repeat: int) -> list[tuple[float, float]]:
    """Per batch size: (best child images/s, best wall seconds). The batch sizes take turns within each
    repeat, so a burst of load from other work on the machine hits them alike."""
    from kohya_wrap.captioning.compose import Style
    from kohya_wrap.captioning.run import AutoRequest, run_auto_captions

    options = {"max_length": 20, "min_length": 20, "device": "cpu"}  # fixed length: every batch does equal work
    rates, walls = {b: [] for b in BATCHES}, {b: [] for b in BATCHES}
    for _ in range(repeat):
        for batch in BATCHES:
            request = AutoRequest(root=root, captioner=captioner, model_dir=model, style=Style(mode="replace"),
                                  batch_size=batch, options=options, dry_run=True, python=python)
            started = time.perf_counter()
            summary = run_auto_captions(request)
            walls[batch].append(time.perf_counter() - started)
            rates[batch].append(summary["images_per_s"])
    return [(max(rates[b]), min(walls[b])) for b in BATCHES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", help="captioning Python (default: KOHYA_WRAP_PYTHON, else this one)")
    args = parser.parse_args()
    python = args.python or os.environ.get("KOHYA_WRAP_PYTHON") or sys.executable
    from tests.captioning import tiny_models

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KOHYA_WRAP_HOME"] = str(Path(tmp) / "home")
        models = {"wd14": tiny_models.build_tagger(Path(tmp) / "tagger", size=448),
                  "blip": tiny_models.build_blip(Path(tmp) / "blip", hidden=64, image_size=64)}
        root = make_dataset(Path(tmp), args.images)
        load = os.getloadavg()[0]
        rows = {name: measure(root, name, model, python, args.repeat) for name, model in models.items()}
        load_after = os.getloadavg()[0]
    lines = [f"# `data captions auto`: captions/s by batch size ({args.images} images of 384x384, best of "
             f"{args.repeat})", "",
             f"machine: {platform.machine()}, {os.cpu_count()} cores, captioning Python {python}; "
             f"load average {load:.1f} -> {load_after:.1f} (shared machine)",
             "tiny tagger: ONNX, 448x448 input as sd-scripts' WD14 taggers (channel means -> 12 sigmoid scores), "
             "so its figure is mostly our preprocessing (decode, pad, resize, BGR float32);",
             "tiny BLIP: random-initialised, hidden 64, 2 layers, 64 px input, 20 tokens per caption.", "",
             "| captioner | batch | captions/s (child, load excluded) | ratio to batch 1 | wall s (whole call) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, results in rows.items():
        base = results[0][0]
        for batch, (rate, wall) in zip(BATCHES, results):
            lines.append(f"| {name} | {batch} | {rate:.1f} | {rate / base:.2f}x | {wall:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()

"""Benchmark `data check`: throughput against a plain single-process Pillow loop, and the cached re-check.

One run generates a few thousand small images (with captions) in a temp dir, then measures
  naive header  : for each image, Image.open(path).size                 (one process)
  naive decode  : for each image, Image.open(path).load()               (one process)
  ours header   : check_dataset(decode=False), no cache, process pool   (+ hashing, captions, all rules)
  ours decode   : check_dataset(decode=True),  no cache, process pool (and with workers=1, to show the pool's part)
  ours re-check : check_dataset(decode=True) again on the unchanged set, warm cache
Each figure is the best of --repeat runs (the machine is shared; the best run is the least disturbed one).
Prints images/s and the ratios, and writes them to bench/results/check.txt.

usage: python bench/bench_check.py [--count 3000] [--size 384] [--workers N]
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

RESULTS = ROOT / "bench" / "results" / "check.txt"


def generate(folder: Path, count: int, size: int) -> list[Path]:
    from PIL import Image

    base = Image.linear_gradient("L").resize((size, size))
    images = []
    for index in range(count):
        colour = Image.merge("RGB", (base, base.rotate(90), base.rotate(index % 360)))
        colour.putpixel((index % size, (index // size) % size), (index % 256, 7, 99))  # unique content
        suffix, fmt = (".png", "PNG") if index % 3 == 0 else (".jpg", "JPEG")
        path = folder / f"img{index:05}{suffix}"
        colour.save(path, fmt)
        path.with_suffix(".txt").write_text(f"ohwx woman, photo {index}, outdoors", encoding="utf-8")
        images.append(path)
    return images


def timed(func, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def naive(images: list[Path], decode: bool) -> None:
    from PIL import Image

    for path in images:
        with Image.open(path) as image:
            if decode:
                image.load()
            else:
                _ = image.size


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def headroom(workers: int) -> float:
    """How much faster `workers` processes run a pure-CPU loop than one: what a pool can gain right now."""
    from concurrent.futures import ProcessPoolExecutor

    from kohya_wrap.dataset.check import pool_context

    jobs = [1_500_000] * (workers * 4)
    serial = timed(lambda: list(map(_spin, jobs)))
    with ProcessPoolExecutor(workers, mp_context=pool_context()) as pool:
        pooled = timed(lambda: list(pool.map(_spin, jobs)))
    return serial / pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    from kohya_wrap.dataset.check import check_dataset
    from kohya_wrap.dataset.scan import scan_dataset

    with tempfile.TemporaryDirectory(prefix="kw-bench-") as tmp:
        folder = Path(tmp) / "train" / "10_ohwx woman"
        folder.mkdir(parents=True)
        made = timed(lambda: generate(folder, options.count, options.size))
        subsets = scan_dataset(folder.parent).subsets
        images = subsets[0].images
        cache = Path(tmp) / "cache.json"

        def ours(decode: bool, cache_path=None, workers=options.workers):
            def run():
                if cache_path is None or cold:
                    Path(cache).unlink(missing_ok=True)
                check_dataset(subsets, resolution=1024, min_bucket_reso=256, caption_extension=".txt",
                              decode=decode, workers=workers, cache_path=cache_path)
            return run

        n = options.repeat
        load_before = os.getloadavg()[0]
        naive_header = timed(lambda: naive(images, False), n)
        naive_decode = timed(lambda: naive(images, True), n)
        cold = True
        ours_header = timed(ours(False), n)
        ours_single = timed(ours(True, workers=1), n)
        cores = options.workers or os.cpu_count() or 1
        ours_pool = timed(ours(True, workers=cores), n)
        ours_decode = timed(ours(True, cache), n)  # default workers; cold: the cache file is deleted before each run
        cold = False
        recheck = timed(ours(True, cache), n)
        load_after = os.getloadavg()[0]
        gain = headroom(options.workers or os.cpu_count() or 1)
    count = len(images)
    from kohya_wrap.dataset.check import auto_workers

    workers = options.workers or f"auto (now {auto_workers()})"
    def row(label: str, seconds: float, base: float | None = None) -> str:
        text = f"{label:52}: {seconds:6.2f} s {count / seconds:8.0f} images/s"
        return text + (f"   ours/naive speed = {base / seconds:.2f}x" if base else "")

    lines = [
        f"data check benchmark: {count} images ({options.size}x{options.size}, 1/3 PNG, 2/3 JPEG) + {count} captions",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Pillow {__import__('PIL').__version__}; default workers {workers}; images generated in {made:.1f} s; "
        f"best of {n} runs",
        f"load average {load_before:.1f} -> {load_after:.1f} (other jobs share these cores); a pure-CPU loop runs "
        f"{gain:.2f}x faster on {cores} processes than on one right now (the most any pool can gain here)",
        row("naive header-only (1 process, Image.open().size)", naive_header),
        row("ours  header-only (hash + captions + all rules)", ours_header, naive_header),
        row("naive full decode (1 process, Image.open().load())", naive_decode),
        row("ours  full decode, 1 process, cold", ours_single, naive_decode),
        row(f"ours  full decode, {cores} processes, cold", ours_pool, naive_decode),
        row("ours  full decode, default workers, cold", ours_decode, naive_decode),
        row("ours  re-check of the unchanged set (warm cache)", recheck, naive_decode)
        + f"   = {recheck / ours_decode * 100:.1f}% of the cold check",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

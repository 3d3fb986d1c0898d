"""NaN/Inf scan of a saved LoRA: kohya-wrap's exponent-mask scan over a memory map against a naive load-and-isfinite.

Run:  python bench/bench_lora_scan.py [--rank 32] [--repeat 3]
Builds SDXL-LoRA-shaped files (the real 2,166 tensor names and shapes of the captured run's header, at the
rank given) in fp16 and bf16, then times:
  ours   kohya_wrap.artifacts.lora.find_nonfinite (header read + mask test of the raw bits, chunked)
  naive  safetensors.numpy.load_file + np.isfinite per tensor (bf16: numpy has none, so the usual
         uint16 -> float32 shift first, reading the raw tensor bytes)
and prints both, the ratio, and writes the numbers to bench/results/lora_scan.txt.
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kohya_wrap.artifacts.lora import find_nonfinite, read_header  # noqa: E402

HEADER = ROOT / "tests" / "fixtures" / "sdxl-cpu-run" / "lora" / "shape_lora-step00000006.safetensors.header.json"


def build(path: Path, dtype: str, rank: int) -> int:
    """Write a LoRA with the real header's names/shapes at `rank`; random values, one NaN in the last tensor."""
    header = json.loads(HEADER.read_text())
    meta = header.pop("__metadata__")
    rng = np.random.default_rng(0)
    out, blobs, offset = {"__metadata__": meta}, [], 0
    names = sorted(header)
    for name in names:
        shape = [rank if dim == 4 else dim for dim in header[name]["shape"]]
        values = rng.standard_normal(int(np.prod(shape)) if shape else 1, dtype=np.float32) * 0.01
        if name == names[-1]:
            values[-1] = np.nan
        raw = values.astype("<f2").tobytes() if dtype == "F16" else (values.view("<u4") >> 16).astype("<u2").tobytes()
        out[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(out).encode()
    text += b" " * (-len(text) % 8)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            handle.write(blob)
    return path.stat().st_size


def ours(path: Path) -> list[str]:
    header, start = read_header(path)
    return find_nonfinite(path, header, start)


def naive(path: Path) -> list[str]:
    header, start = read_header(path)
    if any(spec.get("dtype") == "BF16" for key, spec in header.items() if key != "__metadata__"):
        data = path.read_bytes()
        bad = []
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            begin, end = spec["data_offsets"]
            raw = np.frombuffer(data[start + begin : start + end], dtype="<u2")
            if not np.isfinite((raw.astype("<u4") << 16).view("<f4")).all():
                bad.append(name)
        return bad
    from safetensors.numpy import load_file

    return [name for name, array in load_file(str(path)).items() if not np.isfinite(array).all()]


def best(function, path: Path, repeat: int) -> tuple[float, list[str]]:
    times, result = [], []
    for _ in range(repeat):
        begin = time.perf_counter()
        result = function(path)
        times.append(time.perf_counter() - begin)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lines = [f"bench_lora_scan: SDXL LoRA layout of the captured run (2166 tensors), rank {args.rank}",
             (f"machine: {platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, "
              f"best of {args.repeat} (file in the page cache)")]
    with tempfile.TemporaryDirectory() as folder:
        for dtype in ("F16", "BF16"):
            path = Path(folder) / f"lora_{dtype}.safetensors"
            size = build(path, dtype, args.rank)
            ours_s, ours_bad = best(ours, path, args.repeat)
            naive_s, naive_bad = best(naive, path, args.repeat)
            assert ours_bad == naive_bad and len(ours_bad) == 1, (ours_bad, naive_bad)
            mb = size / 1e6
            lines.append(f"{dtype:<5} {mb:7.1f} MB  ours {ours_s:6.3f} s ({mb / ours_s:6.0f} MB/s)   "
                         f"naive {naive_s:6.3f} s ({mb / naive_s:6.0f} MB/s)   ratio naive/ours {naive_s / ours_s:5.2f}x")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "lora_scan.txt").write_text(text)


if __name__ == "__main__":
    main()

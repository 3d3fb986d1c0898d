"""Builders for report tests: small LoRA-like safetensors files from a real header, real run data."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def header_excerpt(run: str = "main") -> dict:
    """__metadata__ and a few tensor (name, dtype, shape) entries copied from a real sd-scripts LoRA header."""
    return json.loads((FIXTURES / run / "lora_header_excerpt.json").read_text(encoding="utf-8"))


def expected_scalars(run: str = "main") -> dict:
    return json.loads((FIXTURES / run / "tensorboard" / "expected_scalars.json").read_text(encoding="utf-8"))["scalars"]


def scalar_points(run: str = "main") -> list[dict]:
    """The run's TensorBoard points as read back by TensorBoard itself (expected_scalars.json)."""
    return [{"tag": tag, **point} for tag, points in expected_scalars(run).items() for point in points]


def _scaled_shape(shape: list[int]) -> tuple[int, ...]:
    # keep rank-4 dims (the LoRA rank) and shrink the feature dims so files stay a few KB
    return tuple(dim if dim <= 4 else max(dim // 40, 2) for dim in shape)


def _to_bf16_bytes(values: np.ndarray) -> bytes:
    # bf16 is the top half of a float32 (round toward zero is fine for test data)
    return (values.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()


def make_lora(path: Path, dtype: str = "F16", *, metadata: dict | None = None, run: str = "main",
              bad: dict[str, float] | None = None, seed: int = 0) -> Path:
    """Write a LoRA-like .safetensors file with real tensor names, scaled-down shapes and real metadata.

    dtype is F16, BF16, F32 or "mixed" (cycles through all three); bad maps tensor name -> value (nan/inf)
    written into one element of that tensor. Files without bf16 are written by the safetensors package;
    numpy has no bf16, so files with bf16 are written by hand in the same layout.
    """
    excerpt = header_excerpt(run)
    rng = np.random.default_rng(seed)
    cycle = ["F16", "BF16", "F32"]
    meta = dict(excerpt["__metadata__"] if metadata is None else metadata)
    tensors: dict[str, tuple[str, np.ndarray]] = {}
    for index, (name, spec) in enumerate(sorted(excerpt["tensors"].items())):
        kind = cycle[index % 3] if dtype == "mixed" else dtype
        shape = _scaled_shape(spec["shape"])
        values = rng.normal(0, 0.05, size=shape).astype("<f4") if shape else np.array(4.0, dtype="<f4")
        if bad and name in bad:
            values.reshape(-1)[-1] = bad[name]
        tensors[name] = (kind, values)
    path.parent.mkdir(parents=True, exist_ok=True)
    if all(kind != "BF16" for kind, _ in tensors.values()):
        from safetensors.numpy import save_file

        save_file({name: v.astype("<f2" if k == "F16" else "<f4") for name, (k, v) in tensors.items()}, str(path), meta)
        return path
    header: dict = {"__metadata__": meta}
    blobs, offset = [], 0
    for name, (kind, values) in tensors.items():
        raw = {"F16": lambda v: v.astype("<f2").tobytes(), "F32": lambda v: v.tobytes(), "BF16": _to_bf16_bytes}[kind](values)
        header[name] = {"dtype": kind, "shape": list(values.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def copy_tensorboard(run: str, dest: Path) -> Path:
    """Copy a real run's TensorBoard folder (event files only) to dest (a job's logs/)."""
    source = FIXTURES / run / "tensorboard"
    for event_file in source.rglob("events.out.tfevents.*"):
        target = dest / event_file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(event_file, target)
    return dest

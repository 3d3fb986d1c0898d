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
    """tag -> points, as TensorBoard's EventAccumulator read them (the file has one of two layouts)."""
    data = json.loads((FIXTURES / run / "tensorboard" / "expected_scalars.json").read_text(encoding="utf-8"))
    if "scalars" in data:
        return data["scalars"]
    (only,) = data["event_files"].values()
    return only["scalars"]


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


def parsed_events(run: str, stem: str = "", step_offset: int | None = None) -> list[dict]:
    """Events of a real run's logs, as the logs package parses them (stdout, then stderr)."""
    from kohya_wrap.logs.parse import parse_files

    folder = FIXTURES / run
    names = [f"{stem}.stdout.log", f"{stem}.stderr.log"] if stem else ["stdout.log", "stderr.log"]
    return [event.to_dict() for event in parse_files([folder / name for name in names], step_offset)]


def write_events(job: Path, events: list[dict]) -> None:
    with (job / "events.jsonl").open("a", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")


def make_job(root: Path, run: str = "main", *, bad: dict[str, dict] | None = None, exit_code: int | None = 0,
             samples: bool = True, name: str = "20261121-082350-shape_lora-1a2b") -> Path:
    """A job folder from a real run: its parsed events (+ the runner's `exited`), its TensorBoard file as logs/,
    args.toml naming output_name, and small LoRA files named like the ones the log says it saved.
    bad maps a LoRA file name to make_lora's bad= (NaN/Inf tensors)."""
    import tomli_w

    job = root / name
    (job / "output").mkdir(parents=True)
    args = {"saving": {"output_name": "shape_lora", "save_model_as": "safetensors"},
            "kohya_wrap": {"output_dir": str(job / "output"), "logging_dir": str(job / "logs")}}
    (job / "args.toml").write_text(tomli_w.dumps(args), encoding="utf-8")
    copy_tensorboard(run, job / "logs")
    events = parsed_events(run)
    if exit_code is not None:
        events.append({"type": "exited", "t": 0.0, "code": exit_code})
    write_events(job, events)
    for event in events:
        if event.get("type") == "saved" and event.get("what") == "model":
            file = Path(event["path"]).name
            make_lora(job / "output" / file, run=run, bad=(bad or {}).get(file), seed=len(file))
    if samples and (FIXTURES / run / "samples").is_dir():
        shutil.copytree(FIXTURES / run / "samples", job / "samples")
    return job


def svg_curves(html: str) -> dict[str, list[int]]:
    """series name -> the drawn point count of each chart that has it (checked against data-points)."""
    import re

    curves: dict[str, list[int]] = {}
    for name, count, body in re.findall(r'<g class="series" data-series="([^"]*)" data-points="(\d+)">(.*?)</g>', html):
        line = re.search(r'points="([^"]*)"', body)
        drawn = len(line[1].split()) if line else body.count("<circle")
        assert drawn == int(count), name
        curves.setdefault(name, []).append(drawn)
    return curves

"""LoRA files with real SDXL layer names and shapes, written with numpy (no torch), and a job folder holding one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from kohya_wrap.artifacts.keys import sdxl_table
from tests.validate.conftest import write_job

METADATA = {"ss_network_module": "networks.lora", "ss_network_dim": "4", "ss_network_alpha": "4.0",
            "ss_output_name": "shape_lora", "ss_base_model_version": "sdxl_base_v1-0",
            "ss_tag_frequency": json.dumps({"3_shape": {"shape": 3}})}


def lora_tensors(count: int = 6, rank: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """sd-scripts-style tensors for the first `count` attention layers and two text-encoder layers of SDXL."""
    rng = np.random.default_rng(seed)
    table = sdxl_table()
    names = [n for n, v in sorted(table["unet"].items()) if v[4] == "attention"][:count]
    names += sorted(table["te1"])[:1] + sorted(table["te2"])[:1]
    tensors = {}
    for name in names:
        part = "unet" if name.startswith("lora_unet_") else name.split("_")[1]
        fan_in, fan_out, kh, _, _ = table[part][name]
        kernel = (1, 1) if kh else ()
        tensors[f"{name}.lora_down.weight"] = rng.standard_normal((rank, fan_in, *kernel)).astype(np.float16)
        tensors[f"{name}.lora_up.weight"] = rng.standard_normal((fan_out, rank, *kernel)).astype(np.float16)
        tensors[f"{name}.alpha"] = np.array(4.0, dtype=np.float16)
    return tensors


def write_lora(path: Path, tensors: dict | None = None, metadata: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors if tensors is not None else lora_tensors(), str(path),
              metadata=METADATA if metadata is None else metadata)
    return path


@pytest.fixture
def job(tmp_path) -> Path:
    """A job folder with a final LoRA, an earlier save and a validation run that rendered the final one."""
    from PIL import Image

    folder = tmp_path / "20261201-100000-shape-ab12"
    base = tmp_path / "sd_xl_base_1.0.safetensors"
    base.write_bytes(b"\0" * 16)
    write_job(folder, base)
    write_lora(folder / "output" / "shape_lora-step00000002.safetensors", lora_tensors(seed=2))
    final = write_lora(folder / "output" / "shape_lora.safetensors")
    run = folder / "validation" / "20261201-110000-aaaa"
    (run / "images").mkdir(parents=True)
    for strength, colour in ((0.5, "red"), (1.0, "blue")):
        Image.new("RGB", (64, 64), colour).save(run / "images" / f"w{strength:g}.png")
    Image.new("RGB", (200, 100), "white").save(run / "grid.png")
    record = {"run_id": "20261201-110000-aaaa", "summary_line": "Validated 2026-12-01: all checks passed.",
              "settings": {"prompts": [{"text": "shape, a red circle", "negative": "blurry"}], "steps": 20, "cfg": 6.0,
                           "sampler": "dpmpp_2m_karras", "width": 832, "height": 1216},
              "loras": [{"name": "shape_lora", "path": str(final)}],
              "images": [{"path": f"images/w{s:g}.png", "lora": "shape_lora", "strength": s, "seed": 7,
                          "prompt_index": 0, "prompt": "shape, a red circle"} for s in (0.5, 1.0)]}
    (run / "validation.json").write_text(json.dumps(record))
    return folder

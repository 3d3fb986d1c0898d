"""A stand-in SDXL base checkpoint for tests: a real safetensors header with SDXL's single-file key layout and
the length that header promises (zeros, sparse on disk). The pre-launch model check reads only the header;
nothing loads these weights."""

from __future__ import annotations

import json
import struct
from pathlib import Path

# one tensor per part sd-scripts splits the checkpoint into, plus SDXL base's size-conditioning embedding
TENSORS = {
    "model.diffusion_model.label_emb.0.0.weight": [1280, 2816],
    "model.diffusion_model.input_blocks.0.0.weight": [320, 4, 3, 3],
    "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight": [49408, 768],
    "conditioner.embedders.1.model.token_embedding.weight": [49408, 1280],
    "first_stage_model.encoder.conv_in.weight": [128, 3, 3, 3],
}


def write_fake_sdxl(path: Path, tensors: dict | None = None) -> Path:
    """Write the stand-in at PATH (about 200 MB apparent size, a few KB on disk) and return PATH."""
    header, offset = {"__metadata__": {"kohya_wrap_test": "header only"}}, 0
    for name, shape in (tensors or TENSORS).items():
        size = 2
        for side in shape:
            size *= side
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + offset)  # sparse: the promised bytes, none written
    return path

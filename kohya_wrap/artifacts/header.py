"""safetensors headers: read them without loading tensors, rewrite the metadata and copy the tensor bytes as they are."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

from kohya_wrap.fileio import new_file_mode
from kohya_wrap.errors import KohyaWrapError

MAX_HEADER = 100 * 2**20
CHUNK = 1 << 20


def read_header(path: Path) -> tuple[dict, int]:
    """(header JSON, offset of the tensor bytes) of a safetensors file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                raise ValueError("shorter than a safetensors header")
            (length,) = struct.unpack("<Q", raw)
            if length > MAX_HEADER:
                raise ValueError(f"header of {length} bytes is not plausible")
            header = json.loads(handle.read(length))
    except (OSError, ValueError) as error:
        raise KohyaWrapError(f"Cannot read {path} as safetensors: {error}",
                             hint="is it a complete .safetensors file?") from None
    if not isinstance(header, dict):
        raise KohyaWrapError(f"{path} has no safetensors header", hint="is it a complete .safetensors file?")
    return header, 8 + length


def tensor_index(header: dict) -> dict:
    return {key: value for key, value in header.items() if key != "__metadata__"}


def metadata(path: Path) -> dict[str, str]:
    return dict(read_header(path)[0].get("__metadata__") or {})


def encode_header(header: dict) -> bytes:
    """Length prefix plus JSON, padded with spaces to 8 bytes as safetensors writes it."""
    body = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body


def data_sha256(path: Path) -> str:
    """sha256 of the tensor bytes only (unchanged by a metadata rewrite)."""
    _, offset = read_header(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(offset)
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def with_metadata(header: dict, updates: dict[str, str]) -> dict:
    """A copy of `header` whose __metadata__ has `updates` applied (values as strings, None removes)."""
    new_meta = dict(header.get("__metadata__") or {})
    for key, value in updates.items():
        if value is None:
            new_meta.pop(key, None)
        else:
            new_meta[key] = str(value)
    rewritten = {"__metadata__": new_meta} if new_meta else {}
    rewritten.update(tensor_index(header))
    return rewritten


def write_rewritten(source: Path, target_tmp: Path, updates: dict[str, str]) -> None:
    """Write `source` to `target_tmp` with a new metadata header; the tensor bytes are copied unchanged."""
    header, offset = read_header(source)
    with open(source, "rb") as src, open(target_tmp, "wb") as dst:
        dst.write(encode_header(with_metadata(header, updates)))
        src.seek(offset)
        while block := src.read(CHUNK):
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())


def temp_beside(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    # mkstemp makes 0600 files; an exported LoRA is for the image tool's users, like any file they copy
    os.chmod(name, new_file_mode())
    return Path(name)

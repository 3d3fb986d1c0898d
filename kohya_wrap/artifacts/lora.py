"""Inspect a saved LoRA: safetensors header, key metadata, sha256, and a NaN/Inf scan of every tensor."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kohya_wrap.errors import EXIT_FAILED, KohyaWrapError

# Metadata worth showing in a summary; the rest (ss_tag_frequency, ss_datasets, ...) stays in the file.
KEY_METADATA = (
    "ss_output_name",
    "ss_network_module",
    "ss_network_dim",
    "ss_network_alpha",
    "ss_network_args",
    "ss_steps",
    "ss_epoch",
    "ss_max_train_steps",
    "ss_num_epochs",
    "ss_num_train_images",
    "ss_num_reg_images",
    "ss_num_batches_per_epoch",
    "ss_gradient_accumulation_steps",
    "ss_learning_rate",
    "ss_unet_lr",
    "ss_text_encoder_lr",
    "ss_lr_scheduler",
    "ss_optimizer",
    "ss_mixed_precision",
    "ss_seed",
    "ss_base_model_version",
    "ss_sd_model_name",
    "ss_sd_model_hash",
    "ss_new_sd_model_hash",
    "sshs_model_hash",
    "sshs_legacy_hash",
    "ss_sd_scripts_commit_hash",
    "ss_training_started_at",
    "ss_training_finished_at",
    "modelspec.architecture",
    "modelspec.title",
    "modelspec.resolution",
    "modelspec.date",
    "modelspec.implementation_version",
)

# dtype -> (bytes per element, exponent mask, numpy unsigned view). A float is NaN or Inf exactly when all its
# exponent bits are set, so one mask test per element covers every IEEE-like format, bf16 included, with no
# float conversion. F8_E4M3 (the "fn" variant) has no Inf; its only NaN is S.1111.111, handled by its mask.
_FLOAT_MASKS = {
    "F64": (8, 0x7FF0000000000000, "<u8"),
    "F32": (4, 0x7F800000, "<u4"),
    "F16": (2, 0x7C00, "<u2"),
    "BF16": (2, 0x7F80, "<u2"),
    "F8_E5M2": (1, 0x7C, "u1"),
    "F8_E4M3": (1, 0x7F, "u1"),
}
_CHUNK_ELEMENTS = 1 << 22  # bounds the temporary arrays of one mask test to a few MB


class LoraFileError(KohyaWrapError):
    """A .safetensors file that cannot be read: truncated, not safetensors, or a corrupt header."""

    exit_code = EXIT_FAILED


@dataclass
class LoraInfo:
    """What a report needs to know about one saved LoRA file."""

    path: Path
    bytes: int
    sha256: str
    metadata: dict[str, str]
    tensors: int
    nonfinite_tensors: list[str] = field(default_factory=list)
    dtypes: dict[str, int] = field(default_factory=dict)
    header_bytes: int = 0

    @property
    def good(self) -> bool:
        """A file counts as a usable output only when it has tensors and all of them are finite."""
        return self.tensors > 0 and not self.nonfinite_tensors

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        data["good"] = self.good
        return data


def read_header(path: Path) -> tuple[dict, int]:
    """Return (header JSON, byte offset where tensor data starts); raises LoraFileError on a bad file."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise LoraFileError(f"{path}: too short to be a safetensors file ({size} bytes)")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8 or length > 100_000_000:
            raise LoraFileError(
                f"{path}: header length {length} does not fit in a {size}-byte file",
                hint="the file is truncated (was the run killed while saving?) or not a safetensors file",
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LoraFileError(f"{path}: safetensors header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise LoraFileError(f"{path}: safetensors header is not a JSON object")
    return header, 8 + length


def key_metadata(metadata: dict) -> dict[str, str]:
    """The ss_* / modelspec.* values a summary shows, in a stable order."""
    return {key: metadata[key] for key in KEY_METADATA if key in metadata}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def find_nonfinite(path: Path, header: dict, data_start: int, data=None) -> list[str]:
    """Names of float tensors holding at least one NaN or Inf, scanned from a read-only memory map.
    Also refuses a data section that is shorter than the header says (a file cut off after its header)."""
    import numpy as np

    if data is None:
        size = Path(path).stat().st_size
        data = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
    body = data[data_start:]
    specs = {name: spec for name, spec in header.items() if name != "__metadata__" and isinstance(spec, dict)}
    needed = max((int(spec.get("data_offsets", [0, 0])[1]) for spec in specs.values()), default=0)
    if needed > len(body):
        raise LoraFileError(f"{path}: the header promises {needed} bytes of tensor data but the file holds "
                            f"{len(body)}", hint="the file is truncated (was the run killed while saving?)")
    bad = []
    for name, spec in specs.items():
        if spec.get("dtype") not in _FLOAT_MASKS:
            continue
        width, mask, view = _FLOAT_MASKS[spec["dtype"]]
        begin, end = spec["data_offsets"]
        if end > len(body) or (end - begin) % width:
            raise LoraFileError(f"{path}: tensor {name} lies outside the file", hint="the file is truncated")
        values = body[begin:end].view(view)
        if _has_nonfinite(values, np.dtype(view).type(mask)):
            bad.append(name)
    return bad


def _has_nonfinite(values, mask) -> bool:
    for start in range(0, len(values), _CHUNK_ELEMENTS):
        chunk = values[start : start + _CHUNK_ELEMENTS]
        if ((chunk & mask) == mask).any():
            return True
    return False


_INSPECTED: dict[tuple, LoraInfo] = {}


def inspect_lora(path: Path) -> LoraInfo:
    """Read a LoRA's header and metadata, hash it, and list tensors with NaN/Inf (never loads torch).

    One memory map serves the hash and the scan, and a file unchanged since it was last inspected in
    this process (same size, mtime and inode) is not read again: a job's end reads each output once."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise LoraFileError(f"{path}: no such file")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key in _INSPECTED:
        return _INSPECTED[key]
    header, data_start = read_header(path)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise LoraFileError(f"{path}: __metadata__ is not a JSON object")
    names = [key for key in header if key != "__metadata__"]
    dtypes: dict[str, int] = {}
    for name in names:
        dtype = header[name].get("dtype", "?") if isinstance(header[name], dict) else "?"
        dtypes[dtype] = dtypes.get(dtype, 0) + 1
    data = np.memmap(path, dtype=np.uint8, mode="r")
    info = LoraInfo(path=path, bytes=stat.st_size, sha256=hashlib.sha256(data).hexdigest(),
                    metadata=key_metadata(metadata), tensors=len(names),
                    nonfinite_tensors=find_nonfinite(path, header, data_start, data),
                    dtypes=dtypes, header_bytes=data_start - 8)
    _INSPECTED[key] = info
    return info


def inspect_output(path: Path) -> dict:
    """size, sha256, key ss_* metadata and the non-finite tensors of a saved LoRA, or its problem."""
    try:
        return inspect_lora(path).to_dict()
    except LoraFileError as error:
        # A file cut short (run killed while saving) is still recorded, with what is wrong with it.
        return {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": None, "metadata": {},
                "error": error.message}

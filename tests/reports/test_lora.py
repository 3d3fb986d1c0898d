"""inspect_lora: header, metadata, sha256 and the NaN/Inf scan, on files built from a real LoRA header."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from kohya_wrap.artifacts.lora import LoraFileError, inspect_lora, read_header

from .helpers import SHARED, header_excerpt, make_lora

NAMES = sorted(header_excerpt()["tensors"])
UP = "lora_unet_middle_block_1_transformer_blocks_0_attn1_to_q.lora_up.weight"


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32", "mixed"])
def test_clean_file_is_good_with_real_metadata(lora_factory, dtype):
    path = lora_factory(dtype=dtype)
    info = inspect_lora(path)
    assert info.good and info.nonfinite_tensors == []
    assert info.tensors == len(NAMES) == 9
    assert info.bytes == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.metadata["ss_network_dim"] == "4"
    assert info.metadata["ss_network_alpha"] == "4.0"
    assert info.metadata["ss_steps"] == "6"
    assert info.metadata["ss_base_model_version"] == "sdxl_base_v1-0"
    assert info.metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"
    assert "ss_tag_frequency" not in info.metadata  # big JSON blobs stay out of the summary
    expected = {"mixed": {"F16": 3, "BF16": 3, "F32": 3}}.get(dtype, {dtype: 9})
    assert info.dtypes == expected


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32", "mixed"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_tensor_is_named(lora_factory, dtype, value):
    info = inspect_lora(lora_factory(dtype=dtype, bad={UP: value}))
    assert info.nonfinite_tensors == [UP]
    assert not info.good
    assert info.to_dict()["good"] is False


def test_largest_finite_values_are_not_flagged(lora_factory, tmp_path):
    # the exponent test must not confuse max-finite numbers with Inf in any format
    for dtype, biggest in (("F16", 65504.0), ("F32", 3.4028234e38), ("BF16", 3.3895314e38)):
        info = inspect_lora(make_lora(tmp_path / f"{dtype}.safetensors", dtype=dtype, bad={UP: biggest}))
        assert info.nonfinite_tensors == [], dtype


def test_all_nan_file_like_a_diverged_run(tmp_path):
    every = {name: float("nan") for name in NAMES}
    info = inspect_lora(make_lora(tmp_path / "nan.safetensors", dtype="F16", bad=every))
    assert info.nonfinite_tensors == NAMES


def test_hand_written_bf16_layout_is_accepted_by_safetensors(lora_factory):
    from safetensors import safe_open

    path = lora_factory(dtype="mixed")
    with safe_open(str(path), framework="numpy") as handle:
        assert sorted(handle.keys()) == NAMES
        assert handle.metadata()["ss_output_name"] == "shape_lora"
    header, start = read_header(path)
    assert start % 8 == 0
    assert header["__metadata__"]["ss_network_dim"] == "4"


def test_bf16_values_round_trip_through_the_shift(lora_factory):
    # the file stores bf16 as the top 16 bits of float32; reading them back the same way gives the values
    path = lora_factory(dtype="BF16", seed=3)
    header, start = read_header(path)
    begin, end = header[UP]["data_offsets"]
    raw = np.frombuffer(path.read_bytes()[start + begin : start + end], dtype="<u2")
    values = (raw.astype("<u4") << 16).view("<f4")
    assert np.all(np.isfinite(values)) and 0 < np.abs(values).max() < 1


@pytest.mark.parametrize("cut", [4, 20, -10])
def test_truncated_file_raises_a_clear_error(lora_factory, cut):
    path = lora_factory()
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(LoraFileError) as error:
        inspect_lora(path)
    assert str(path) in error.value.message


def test_not_json_header(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes((16).to_bytes(8, "little") + b"not json at all!" + b"\0" * 8)
    with pytest.raises(LoraFileError, match="not valid JSON"):
        inspect_lora(path)


def test_missing_file(tmp_path):
    with pytest.raises(LoraFileError, match="no such file"):
        inspect_lora(tmp_path / "absent.safetensors")


def test_inspect_never_imports_torch(lora_factory):
    path = lora_factory(dtype="mixed")
    code = ("import sys; from kohya_wrap.artifacts.lora import inspect_lora; "
            f"inspect_lora({str(path)!r}); print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


REAL = SHARED / "sdxl-cpu-run" / "lora"


@pytest.mark.skipif(not (REAL / "shape_lora.safetensors").is_file(), reason="../shared fixtures not present")
def test_real_21mb_lora_from_the_cpu_run():
    info = inspect_lora(REAL / "shape_lora.safetensors")
    sums = dict(line.split()[::-1] for line in (REAL / "SHA256SUMS").read_text().splitlines())
    assert info.sha256 == sums["shape_lora.safetensors"]
    assert info.tensors == 2166 and info.dtypes == {"F16": 2166}
    assert info.nonfinite_tensors == []
    assert info.header_bytes == 304864
    header = json.loads((REAL / "shape_lora-step00000006.safetensors.header.json").read_text())
    assert info.metadata["ss_steps"] == header["__metadata__"]["ss_steps"] == "6"
    assert info.metadata["ss_epoch"] == "1"

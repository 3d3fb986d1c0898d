"""Header-only metadata rewrites leave every tensor byte as it was."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors import safe_open

from kohya_wrap.artifacts import header as st
from kohya_wrap.errors import KohyaWrapError
from tests.artifacts.conftest import write_lora


def test_rewrite_changes_the_metadata_and_keeps_the_tensor_bytes(tmp_path):
    source = write_lora(tmp_path / "a.safetensors")
    before = source.read_bytes()
    target = tmp_path / "b.safetensors"
    st.write_rewritten(source, target, {"ss_output_name": "renamed", "modelspec.title": "Renamed", "ss_network_dim": None})
    assert source.read_bytes() == before  # the source is only read
    (_, src_offset), (header, dst_offset) = st.read_header(source), st.read_header(target)
    assert dst_offset % 8 == 0
    assert target.read_bytes()[dst_offset:] == before[src_offset:]
    assert st.data_sha256(target) == st.data_sha256(source)
    meta = header["__metadata__"]
    assert meta["ss_output_name"] == "renamed" and meta["modelspec.title"] == "Renamed"
    assert "ss_network_dim" not in meta and meta["ss_network_module"] == "networks.lora"
    with safe_open(str(source), "np") as old, safe_open(str(target), "np") as new:
        assert sorted(old.keys()) == sorted(new.keys())
        for key in old.keys():
            assert np.array_equal(old.get_tensor(key), new.get_tensor(key))
        assert new.metadata()["ss_output_name"] == "renamed"


def test_a_file_that_is_not_safetensors_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 32)
    with pytest.raises(KohyaWrapError, match="Cannot read"):
        st.read_header(bad)
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\1")
    with pytest.raises(KohyaWrapError, match="shorter than"):
        st.read_header(short)

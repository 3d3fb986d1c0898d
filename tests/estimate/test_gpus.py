"""The GPU table: lookups by key, alias and driver name, generic GPUs, prices."""

from __future__ import annotations

import pytest

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.estimate import gpus

REQUIRED = ["rtx3090", "rtx4090", "rtx5090", "a4000", "a5000", "a6000", "l4", "l40s", "a10g", "a100-40gb",
            "a100-80gb", "h100-pcie", "h100-sxm", "h200", "gb10"]


def test_table_has_every_required_gpu_with_memory_and_throughput():
    table = {gpu.key: gpu for gpu in gpus.GPUS}
    for key in REQUIRED:
        assert table[key].memory_gib > 0 and table[key].bf16_tflops > 0 and 0 < table[key].efficiency < 1


@pytest.mark.parametrize("name, key", [
    ("4090", "rtx4090"), ("RTX 4090", "rtx4090"), ("NVIDIA GeForce RTX 4090", "rtx4090"), ("rtx-3090", "rtx3090"),
    ("NVIDIA A100-SXM4-40GB", "a100-40gb"), ("NVIDIA A100 80GB PCIe", "a100-80gb"), ("a100", "a100-80gb"),
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"), ("h100", "h100-sxm"),
    ("NVIDIA L4", "l4"), ("NVIDIA L40S", "l40s"), ("A10G", "a10g"), ("NVIDIA A10", "a10"),
    ("dgx spark", "gb10"), ("NVIDIA GB10", "gb10"), ("NVIDIA RTX A6000", "a6000"), ("h200", "h200"),
])
def test_lookup_finds_the_card_by_its_many_names(name, key):
    assert gpus.lookup(name).key == key


def test_unknown_gpu_is_a_clear_error_listing_the_known_ones():
    with pytest.raises(KohyaWrapError) as caught:
        gpus.lookup("voodoo 5")
    assert caught.value.exit_code == 2 and "rtx4090" in caught.value.hint and "--vram" in caught.value.hint


def test_generic_gpu_has_memory_but_no_throughput():
    gpu = gpus.generic(12)
    assert gpu.memory_gib == 12 and gpu.effective_tflops is None
    with pytest.raises(KohyaWrapError):
        gpus.generic(0)


def test_effective_throughput_is_peak_times_efficiency():
    gpu = gpus.with_efficiency(gpus.lookup("4090"), 0.5)
    assert gpu.effective_tflops == pytest.approx(165.2 * 0.5)


def test_default_price_comes_from_prices_toml_and_home_overrides_it(isolated_home):
    assert gpus.default_price(gpus.lookup("4090"))[0] == pytest.approx(0.69)
    (isolated_home / "prices.toml").write_text('[gpus]\n"RTX 4090" = 0.25\n')
    price, source = gpus.default_price(gpus.lookup("4090"))
    assert price == 0.25 and "RTX 4090" in source
    assert gpus.default_price(gpus.generic(24)) is None


def test_unreadable_price_file_is_an_error_not_a_silent_default(isolated_home):
    (isolated_home / "prices.toml").write_text("[gpus\n")
    with pytest.raises(KohyaWrapError, match="prices.toml"):
        gpus.default_price(gpus.lookup("4090"))

"""The shipped price table and how a job's hourly rate is found."""

from __future__ import annotations

import pytest

from kohya_wrap import paths
from kohya_wrap.errors import ConfigError
from kohya_wrap.job.cost import hourly_rate, load_prices, price_for_gpu


def test_shipped_table_loads_and_every_price_is_a_number():
    table = load_prices()
    assert len(table) >= 10 and all(isinstance(v, float) and v >= 0 for v in table.values())


@pytest.mark.parametrize("gpu, key", [
    ("NVIDIA H100 80GB HBM3", "H100"),
    ("NVIDIA GH200 480GB", "GH200"),
    ("NVIDIA A100-SXM4-80GB", "A100-SXM4-80GB"),
    ("NVIDIA A100 80GB PCIe", "A100 80GB"),
    ("NVIDIA A100-SXM4-40GB", "A100"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"),
    ("NVIDIA L40S", "L40S"),
])
def test_longest_matching_name_wins(gpu, key):
    assert price_for_gpu(gpu, load_prices())[0] == key


def test_unknown_gpu_has_no_price():
    assert price_for_gpu("Some Future Accelerator", load_prices()) is None
    assert hourly_rate({}, "Some Future Accelerator") is None
    assert hourly_rate({}, None) is None


def test_explicit_rate_wins_and_is_multiplied_by_gpu_count():
    rate = hourly_rate({"gpu_hourly_usd": 2.0, "gpu_count": 4}, "NVIDIA H100 80GB HBM3")
    assert rate.usd_per_hour == 8.0 and "gpu_hourly_usd" in rate.source


def test_table_rate_times_gpu_count():
    table = load_prices()
    rate = hourly_rate({"gpu_count": 2}, "NVIDIA H100 80GB HBM3", table)
    assert rate.usd_per_hour == pytest.approx(2 * table["H100"])
    assert "'H100'" in rate.source


def test_user_file_overrides_key_by_key():
    (paths.home()).mkdir(parents=True, exist_ok=True)
    (paths.home() / "prices.toml").write_text('[gpus]\n"H100" = 1.5\n"MyCard" = 0.1\n')
    table = load_prices()
    assert table["H100"] == 1.5 and table["MyCard"] == 0.1 and "A100" in table


def test_bad_price_is_a_config_error(tmp_path):
    bad = tmp_path / "prices.toml"
    bad.write_text('[gpus]\n"H100" = "cheap"\n')
    with pytest.raises(ConfigError, match="gpus.H100"):
        load_prices(override=bad)

"""Injected platform facts for the machines the profile and install plan must handle."""

from __future__ import annotations

from pathlib import Path

from kohya_wrap.backend.platform import Facts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def x86_cuda(**changes) -> Facts:
    base = dict(arch="x86_64", os="Linux", python="/venv/bin/python", python_version="3.11.7",
                torch="2.7.1+cu128", torch_cuda="12.8", cuda_available=True, gpu_name="NVIDIA GeForce RTX 4090",
                gpu_count=1, compute_capability="8.9", gpu_memory_gb=23.5, unified_memory=False,
                system_memory_gb=62.7, bf16_supported=True, torchvision="0.22.1+cu128", xformers="0.0.31",
                bitsandbytes="0.46.0", bitsandbytes_usable=True, triton="3.3.1", gui_libs=False, nvidia_driver=True)
    return Facts(**{**base, **changes})


def gb10(**changes) -> Facts:
    """DGX Spark: Grace CPU + GB10 (sm_121), memory shared by CPU and GPU."""
    base = dict(arch="aarch64", os="Linux", python="/venv/bin/python", python_version="3.12.3",
                torch="2.9.0+cu130", torch_cuda="13.0", cuda_available=True, gpu_name="NVIDIA GB10", gpu_count=1,
                compute_capability="12.1", gpu_memory_gb=119.7, unified_memory=True, system_memory_gb=119.7,
                bf16_supported=True, torchvision="0.24.0", xformers=None, bitsandbytes=None, triton="3.5.0",
                gui_libs=False, nvidia_driver=True)
    return Facts(**{**base, **changes})

"""Script run in the backend's python: print platform facts (or import results) as one JSON line.

Usage: python _probe.py                      -> platform facts
       python _probe.py --imports MOD... [--dists DIST...]  -> which modules import, installed versions
The JSON line starts with "KOHYA_WRAP_PROBE ". Never imported by kohya-wrap itself (it imports torch).
"""

from __future__ import annotations

import contextlib
import ctypes.util
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys

SENTINEL = "KOHYA_WRAP_PROBE "


def _try_import(name: str) -> tuple[object | None, str | None]:
    try:
        with contextlib.redirect_stdout(sys.stderr):  # some packages print banners on import
            return importlib.import_module(name), None
    except Exception as error:  # any import failure is a fact to report, not a crash
        return None, f"{type(error).__name__}: {error}"[:300]


def _torch_facts(facts: dict) -> None:
    torch, error = _try_import("torch")
    if torch is None:
        facts["import_errors"]["torch"] = error
        return
    facts["torch"] = torch.__version__
    facts["torch_cuda"] = torch.version.cuda
    facts["cuda_available"] = bool(torch.cuda.is_available())
    if not facts["cuda_available"]:
        facts["bf16_supported"] = True  # CPU autocast supports bf16 (fast where the CPU has avx512_bf16/AMX)
        return
    props = torch.cuda.get_device_properties(0)
    facts["gpu_count"] = torch.cuda.device_count()
    facts["gpu_name"] = props.name
    facts["compute_capability"] = f"{props.major}.{props.minor}"
    facts["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
    facts["unified_memory"] = bool(getattr(props, "is_integrated", False))
    facts["bf16_supported"] = bool(torch.cuda.is_bf16_supported())


def _optional(facts: dict, name: str) -> object | None:
    module, error = _try_import(name)
    if module is None:
        if error and not error.startswith("ModuleNotFoundError"):
            facts["import_errors"][name] = error
        return None
    facts[name] = getattr(module, "__version__", "unknown")
    return module


def _bitsandbytes(facts: dict) -> None:
    bnb = _optional(facts, "bitsandbytes")
    if bnb is None or not facts["cuda_available"]:
        return
    try:
        import torch

        with contextlib.redirect_stdout(sys.stderr):
            bnb.functional.quantize_blockwise(torch.ones(256, device="cuda"))
        facts["bitsandbytes_usable"] = True
    except Exception as error:  # the native library may not load for this GPU/CUDA
        facts["import_errors"]["bitsandbytes"] = f"{type(error).__name__}: {error}"[:300]


def platform_facts() -> dict:
    page = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    facts = {
        "arch": platform.machine(), "os": platform.system(), "os_release": platform.release(),
        "python": sys.executable, "python_version": platform.python_version(),
        "system_memory_gb": round(page / 2**30, 1) if page else None,
        "gui_libs": ctypes.util.find_library("GL") is not None,
        "nvidia_driver": os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None,
        "cuda_available": False, "gpu_count": 0, "bitsandbytes_usable": False, "import_errors": {},
    }
    _torch_facts(facts)
    for name in ("torchvision", "xformers", "triton"):
        _optional(facts, name)
    _bitsandbytes(facts)
    return facts


def import_report(modules: list[str], dists: list[str]) -> dict:
    report = {"modules": {}, "dists": {}}
    for name in modules:
        module, error = _try_import(name)
        report["modules"][name] = {"ok": module is not None, "error": error,
                                   "version": getattr(module, "__version__", None) if module else None}
    for dist in dists:
        try:
            report["dists"][dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            report["dists"][dist] = None
    return report


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--imports":
        split = argv.index("--dists") if "--dists" in argv else len(argv)
        result = import_report(argv[1:split], argv[split + 1:])
    else:
        result = platform_facts()
    print(SENTINEL + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

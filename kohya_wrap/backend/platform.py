"""Platform facts (probed in the backend's python) and the profile: visible substitutions of training args."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from kohya_wrap.errors import BackendError

PROBE_SCRIPT = Path(__file__).with_name("_probe.py")
SENTINEL = "KOHYA_WRAP_PROBE "


@dataclass
class Facts:
    arch: str
    os: str
    os_release: str = ""
    python: str = ""
    python_version: str = ""
    torch: str | None = None
    torch_cuda: str | None = None
    cuda_available: bool = False
    gpu_name: str | None = None
    gpu_count: int = 0
    compute_capability: str | None = None  # "8.9", "12.1"
    gpu_memory_gb: float | None = None
    unified_memory: bool | None = None
    system_memory_gb: float | None = None
    bf16_supported: bool | None = None
    torchvision: str | None = None
    xformers: str | None = None
    bitsandbytes: str | None = None
    bitsandbytes_usable: bool = False
    triton: str | None = None
    gui_libs: bool | None = None
    nvidia_driver: bool = False
    import_errors: dict[str, str] = field(default_factory=dict)
    probe_error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Facts:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @property
    def capability(self) -> tuple[int, int] | None:
        if not self.compute_capability:
            return None
        major, _, minor = self.compute_capability.partition(".")
        return int(major), int(minor or 0)

    @property
    def is_arm(self) -> bool:
        return self.arch.lower() in ("aarch64", "arm64")

    def summary_lines(self) -> list[str]:
        """What `doctor` and `backend info` print about the machine."""
        lines = [f"{self.arch} {self.os} {self.os_release}, Python {self.python_version} ({self.python})"]
        if self.torch is None:
            lines.append("torch: not importable" + _err(self, "torch"))
        elif self.cuda_available:
            memory = f"{self.gpu_memory_gb} GiB" + (" unified with the CPU" if self.unified_memory else "")
            lines.append(f"torch {self.torch} (CUDA {self.torch_cuda}); GPU {self.gpu_name} x{self.gpu_count}, "
                         f"sm_{(self.compute_capability or '?').replace('.', '')}, {memory}, "
                         f"bf16 {'yes' if self.bf16_supported else 'no'}")
        else:
            lines.append(f"torch {self.torch}, no CUDA: training runs on the CPU")
        extras = [f"{name} {getattr(self, name) or 'no'}" for name in ("torchvision", "xformers", "bitsandbytes", "triton")]
        if self.bitsandbytes and not self.bitsandbytes_usable:
            extras[2] += " (not usable)"
        lines.append(", ".join(extras) + f"; system memory {self.system_memory_gb} GiB")
        return lines


def _err(facts: Facts, name: str) -> str:
    return f" ({facts.import_errors[name]})" if name in facts.import_errors else ""


def run_probe(python: str, args: list[str], cwd: Path | None = None, timeout: float = 300) -> dict:
    """Run _probe.py in `python` and return its JSON; BackendError if it cannot run."""
    argv = script_argv(python, PROBE_SCRIPT, args)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BackendError(f"Cannot run the backend python {python}: {error}",
                           hint="set KOHYA_WRAP_PYTHON or `kohya-wrap backend use PATH --python PYTHON`") from None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(SENTINEL):
            return json.loads(line[len(SENTINEL):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    raise BackendError(f"The platform probe failed in {python} (exit {done.returncode}): {' | '.join(tail)}",
                       hint=f"check that `{python} -c 'import torch'` works")


def script_argv(python: str, script: Path, args: list[str]) -> list[str]:
    """Run one of our helper scripts by its source text: run by path, its folder would go first on
    sys.path and our platform.py / tokenizers.py would shadow the real packages of those names."""
    return [python, "-c", script.read_text(encoding="utf-8"), *args]


def gather_facts(python: str | None = None) -> Facts:
    """Probe the backend's interpreter in a subprocess, so kohya-wrap itself never imports torch."""
    from kohya_wrap.backend.locate import backend_python

    return Facts.from_dict(run_probe(python or backend_python(), []))


# 8-bit and paged optimizers (all need bitsandbytes) -> the 32-bit optimizer sd-scripts has without it.
BNB_FALLBACK = {
    "adamw8bit": "AdamW", "pagedadamw8bit": "AdamW", "pagedadamw": "AdamW", "pagedadamw32bit": "AdamW",
    "lion8bit": "Lion", "pagedlion8bit": "Lion", "sgdnesterov8bit": "SGDNesterov",
}
FP8_MIN_CAPABILITY = (8, 9)


@dataclass(frozen=True)
class Substitution:
    key: str
    old: object
    new: object
    reason: str

    def line(self) -> str:
        return f"{self.key}: {_show(self.old)} -> {_show(self.new)} ({self.reason})"

    def to_dict(self) -> dict:
        return asdict(self) | {"line": self.line()}


def _show(value: object) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def apply_profile(facts: Facts, args: dict) -> tuple[dict, list[Substitution]]:
    """Adapt sd-scripts arguments to this machine; every change comes back as a Substitution."""
    args, subs = dict(args), []
    for rule in (_device_rule, _attention_rule, _optimizer_rule, _precision_rule, _fp8_rule, _compile_rule):
        subs.extend(rule(facts, args))
    return args, subs


def _device_rule(facts: Facts, args: dict) -> list[Substitution]:
    if facts.cuda_available:
        return []
    if facts.torch is None:
        reason = f"torch is not importable in {facts.python or 'the backend python'}; training cannot start"
    elif facts.nvidia_driver:
        reason = (f"torch {facts.torch} is a CPU-only build although an NVIDIA driver is present"
                  + ("; the package index's aarch64 torch is CPU-only, install a CUDA build (see "
                     "`kohya-wrap backend install --dry-run`)" if facts.is_arm else "; install a CUDA build of torch")
                  + "; until then training runs on the CPU, far slower")
    else:
        reason = f"torch {facts.torch} sees no CUDA GPU; training runs on the CPU, far slower"
    return [Substitution("device", "cuda", "cpu", reason)]


def _attention_rule(facts: Facts, args: dict) -> list[Substitution]:
    if not args.get("xformers"):
        return []
    if facts.is_arm:
        reason = "xformers has no aarch64 build; sdpa is PyTorch's built-in attention"
    elif not facts.xformers:
        reason = f"xformers is not installed in {facts.python or 'the backend python'}; using PyTorch's sdpa"
    elif not facts.cuda_available:
        reason = "xformers needs a CUDA GPU; using PyTorch's sdpa"
    else:
        return []
    args.pop("xformers")
    args["sdpa"] = True
    return [Substitution("attention", "xformers", "sdpa", reason)]


def _bnb_problem(facts: Facts) -> str | None:
    if facts.bitsandbytes_usable:
        return None
    if not facts.bitsandbytes:
        return "bitsandbytes is not installed"
    if not facts.cuda_available:
        return f"bitsandbytes {facts.bitsandbytes} needs a CUDA GPU here"
    return f"bitsandbytes {facts.bitsandbytes} does not work here ({facts.import_errors.get('bitsandbytes', 'no detail')})"


def _optimizer_rule(facts: Facts, args: dict) -> list[Substitution]:
    problem = _bnb_problem(facts)
    if problem is None:
        return []
    if args.get("use_8bit_adam"):
        args.pop("use_8bit_adam")
        args["optimizer_type"] = "AdamW"
        return [Substitution("use_8bit_adam", True, "optimizer_type=AdamW", problem)]
    name = str(args.get("optimizer_type") or "")
    short = name.lower().removeprefix("bitsandbytes.optim.")
    if short in BNB_FALLBACK:
        args["optimizer_type"] = BNB_FALLBACK[short]
        return [Substitution("optimizer_type", name, BNB_FALLBACK[short], f"{problem}; the 32-bit optimizer uses "
                             "more memory for optimizer state")]
    if name.lower().startswith("bitsandbytes."):
        raise BackendError(f"optimizer_type {name} needs bitsandbytes: {problem}",
                           hint="choose AdamW, Lion or another optimizer that does not use bitsandbytes")
    return []


def _precision_rule(facts: Facts, args: dict) -> list[Substitution]:
    if args.get("mixed_precision") != "bf16" or not facts.cuda_available or facts.bf16_supported:
        return []
    where = f"{facts.gpu_name} (sm_{(facts.compute_capability or '?').replace('.', '')})"
    args["mixed_precision"] = "fp16"
    args["no_half_vae"] = True
    subs = [Substitution("mixed_precision", "bf16", "fp16", f"{where} has no bf16; no_half_vae set so the "
                         "SDXL VAE does not overflow in fp16")]
    if args.pop("full_bf16", False):
        args["full_fp16"] = True
        subs.append(Substitution("full_bf16", True, "full_fp16", f"{where} has no bf16"))
    return subs


def _fp8_rule(facts: Facts, args: dict) -> list[Substitution]:
    capability = facts.capability
    if facts.cuda_available and capability and capability >= FP8_MIN_CAPABILITY:
        return []
    where = f"compute capability {facts.compute_capability}" if facts.cuda_available else "no CUDA GPU"
    return [Substitution(key, True, False, f"fp8 needs compute capability 8.9 or newer; this machine has {where}")
            for key in ("fp8_base", "fp8_base_unet") if args.pop(key, False)]


def _compile_rule(facts: Facts, args: dict) -> list[Substitution]:
    if facts.triton or not args.get("torch_compile"):
        return []
    args.pop("torch_compile")
    return [Substitution("torch_compile", True, False, "triton is not installed; torch.compile needs it")]

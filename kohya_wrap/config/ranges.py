"""Sane ranges for numeric values, the name rule for output_name, key=value network_args, and strings that
sd-scripts' own TOML reader (toml 0.10.2) reads back unchanged: checked before anything is rendered."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kohya_wrap.config.schema import ARG_SECTIONS
from kohya_wrap.errors import ConfigIssue
from kohya_wrap.job.folder import name_problem


@dataclass(frozen=True)
class Range:
    """Allowed values low..high; low_open excludes low itself (a rate of 0 trains nothing)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def problem(self, value: float) -> str | None:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'>' if self.low_open else '>='} {self.low:g}" + self._upper()
        if self.high is not None and value > self.high:
            return f"must be <= {self.high:g}" + ("" if self.low is None else f" (and {self._lower()})")
        return None

    def _lower(self) -> str:
        return f"{'>' if self.low_open else '>='} {self.low:g}"

    def _upper(self) -> str:
        return f" and <= {self.high:g}" if self.high is not None else ""


RATE, COUNT, SOME = Range(0, 10, low_open=True), Range(1, 1e9), Range(0, 1e9)
FRACTION = Range(0, 1)
# network_dim: LyCORIS (LoKr, full) reads a dim above the layer's size as "full rank", and kohya_ss ships SDXL
# presets with 100000 for that, so the bound only keeps out nonsense, not large ranks.
ARG_RANGES: dict[str, Range] = {
    "learning_rate": RATE, "unet_lr": RATE, "text_encoder_lr": Range(0, 10),
    "network_dim": Range(1, 1e6), "network_alpha": Range(0, 1e5), "network_dropout": FRACTION,
    "max_train_steps": COUNT, "max_train_epochs": Range(1, 1e6), "gradient_accumulation_steps": Range(1, 4096),
    "save_every_n_steps": COUNT, "save_every_n_epochs": COUNT, "save_last_n_steps": COUNT,
    "save_last_n_epochs": COUNT, "save_last_n_steps_state": COUNT, "save_last_n_epochs_state": COUNT,
    "sample_every_n_steps": COUNT, "sample_every_n_epochs": COUNT, "lr_warmup_steps": SOME,
    "lr_decay_steps": SOME, "lr_scheduler_num_cycles": Range(1, 1e6), "lr_scheduler_power": Range(0, 100, True),
    "max_grad_norm": Range(0, 1e6), "noise_offset": FRACTION, "adaptive_noise_scale": Range(-1, 1),
    "multires_noise_iterations": Range(0, 100), "multires_noise_discount": FRACTION, "ip_noise_gamma": FRACTION,
    "min_snr_gamma": Range(0, 1000, True), "scale_weight_norms": Range(0, 1e6, True), "huber_c": Range(0, 1e6, True),
    "prior_loss_weight": Range(0, 1e6), "min_timestep": Range(0, 1000), "max_timestep": Range(0, 1000),
    "seed": Range(0, 2**32 - 1), "max_data_loader_n_workers": Range(0, 1024), "vae_batch_size": Range(1, 1024),
    "save_n_epoch_ratio": COUNT, "max_token_length": Range(75, 225),
}
WRAPPER_RANGES: dict[str, Range] = {
    "dataset.resolution": Range(64, 8192), "dataset.min_bucket_reso": Range(64, 8192),
    "dataset.max_bucket_reso": Range(64, 16384), "dataset.batch_size": Range(1, 4096),
    "dataset.num_repeats": Range(1, 1e6), "launch.grace_seconds": Range(0, 3600, True),
    "launch.num_processes": Range(1, 1024), "launch.num_cpu_threads_per_process": Range(1, 1024),
    "limits.max_cost_usd": Range(0, 1e7, True), "limits.max_hours": Range(0, 24 * 366, True),
    "limits.gpu_hourly_usd": Range(0, 1e4), "limits.gpu_count": Range(1, 1024), "meta.vram_gb": Range(0, 1e4, True),
}
# sections rendered into the files sd-scripts reads (args.toml, dataset.toml)
SD_SCRIPTS_READS = (*ARG_SECTIONS, "dataset")
_NET_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def range_issues(data: dict, provenance: dict) -> list[ConfigIssue]:
    """Every value out of its range, non-finite, or unreadable by sd-scripts, with where it came from."""
    issues = []
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            full = f"{section}.{key}"
            problem = _value_problem(section, key, value)
            if problem:
                issues.append(ConfigIssue(full, problem, provenance.get(full, "default")))
    return issues


def _value_problem(section: str, key: str, value) -> str | None:
    full = f"{section}.{key}"
    limits = WRAPPER_RANGES.get(full) or (ARG_RANGES.get(key) if section in ARG_SECTIONS else None)
    for number in _numbers(value):
        if not math.isfinite(number):
            return f"{number} is not a finite number"
        if limits is not None and limits.problem(number):
            return f"{number:g} is out of range: {limits.problem(number)}"
    if key == "output_name" and section in ARG_SECTIONS:
        problem = name_problem(value) if isinstance(value, str) else "must be a string"
        return f"{problem} (output_name names the LoRA files inside the job's output folder)" if problem else None
    if key == "network_args" and isinstance(value, list):
        bad = next((item for item in value if not isinstance(item, str) or not _NET_ARG.match(item)), None)
        if bad is not None:
            return f"{bad!r} is not KEY=VALUE (e.g. \"conv_dim=4\"); sd-scripts splits each item at '='"
    if section in SD_SCRIPTS_READS:
        return toml_value_problem(value)
    return None


def _numbers(value) -> list[float]:
    items = value if isinstance(value, list) else [value]
    return [float(item) for item in items if isinstance(item, (int, float)) and not isinstance(item, bool)]


def toml_value_problem(value, *, in_list: bool = False) -> str | None:
    """Why sd-scripts' TOML reader (toml 0.10.2) would not read VALUE back unchanged, or None.

    Found by fuzzing that reader against tomllib on what tomli-w writes (tests/faults): control characters
    (written as \\u escapes, which it then mis-reads after a literal backslash-u), a string that starts with
    a quote, a list item that starts with a comma or a quote, and lists that mix types."""
    if isinstance(value, str):
        return _string_problem(value, in_list)
    if isinstance(value, list):
        kinds = {_toml_kind(item) for item in value}
        if len(kinds) > 1:
            return f"mixes {' and '.join(sorted(kinds))} in one list, which sd-scripts' TOML reader refuses"
        return next((p for p in (toml_value_problem(item, in_list=True) for item in value) if p), None)
    if isinstance(value, dict):
        return next((p for p in (toml_value_problem(item) for item in value.values()) if p), None)
    return None


def _string_problem(text: str, in_list: bool) -> str | None:
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            return f"holds the control character U+{code:04X}, which sd-scripts' TOML reader does not read back"
    if text.startswith('"'):
        return "starts with a double quote, which sd-scripts' TOML reader does not read back"
    if in_list and text.lstrip().startswith((",", '"')):
        return "a list item that starts with a comma or a quote is split wrongly by sd-scripts' TOML reader"
    return None


def _toml_kind(value) -> str:
    for kind, types in (("booleans", bool), ("integers", int), ("numbers", float), ("strings", str),
                        ("lists", list), ("tables", dict)):
        if isinstance(value, types):
            return kind
    return type(value).__name__

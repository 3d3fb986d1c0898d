"""`kohya-wrap doctor`: gather what the machine and backend look like (collect), judge it (evaluate, pure)."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.backend import patches as patches_mod
from kohya_wrap.backend import tokenizers
from kohya_wrap.backend.locate import SETUP_HINT, Backend, find_backend
from kohya_wrap.backend.pin import load_pin
from kohya_wrap.backend.platform import Facts, apply_profile, gather_facts, run_probe
from kohya_wrap.errors import BackendError

PASS, WARN, FAIL = "pass", "warn", "fail"
# What sd-scripts' SDXL LoRA path imports; library.train_util proves sd-scripts itself imports.
REQUIRED_MODULES = ("torch", "torchvision", "accelerate", "transformers", "diffusers", "safetensors", "toml",
                    "voluptuous", "einops", "cv2", "imagesize", "ftfy", "huggingface_hub", "tensorboard",
                    "library.train_util")
TYPICAL_ARGS = {"xformers": True, "optimizer_type": "AdamW8bit", "mixed_precision": "bf16"}
CPU_PEAK_GB = 21.6  # measured peak RSS of the SDXL trainer on CPU while loading (tests/fixtures)


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail
    detail: str
    hint: str | None = None

    def line(self) -> str:
        return f"{self.status.upper():4}  {self.name:12} {self.detail}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Inputs:
    """Everything the checks judge; gathered by collect(), built by hand in tests."""

    backend: Backend | None = None
    backend_error: BackendError | None = None
    facts: Facts | None = None
    facts_error: str | None = None
    imports: dict = field(default_factory=dict)  # module -> {"ok", "error", "version"}
    installed: dict = field(default_factory=dict)  # distribution -> version or None
    pins: dict = field(default_factory=dict)  # distribution -> version pinned by requirements.txt
    patches: list = field(default_factory=list)  # PatchStatus
    tokenizer_dir: Path | None = None
    tokenizers_ready: bool = False
    free_gb: dict = field(default_factory=dict)  # folder -> free GiB


def requirement_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(3)
    return pins


def collect(tokenizer_dir: Path | None = None, with_imports: bool = True) -> Inputs:
    """Look at the machine and the backend; runs probes in the backend's python, changes nothing."""
    inputs = Inputs(tokenizer_dir=Path(tokenizer_dir or tokenizers.default_dir()))
    try:
        inputs.backend = find_backend()
    except BackendError as error:
        inputs.backend_error = error
    python = inputs.backend.python if inputs.backend else None
    try:
        inputs.facts = gather_facts(python)
    except BackendError as error:
        inputs.facts_error = error.message
    if inputs.backend:
        root = inputs.backend.root
        inputs.patches = patches_mod.plan_patches(root)
        req = root / load_pin().requirements_file
        inputs.pins = requirement_pins(req.read_text(encoding="utf-8")) if req.is_file() else {}
        if with_imports and inputs.facts:
            try:
                report = run_probe(inputs.backend.python, ["--imports", *REQUIRED_MODULES, "--dists", *inputs.pins],
                                   cwd=root)
                inputs.imports, inputs.installed = report["modules"], report["dists"]
            except BackendError as error:
                inputs.imports = {"import probe": {"ok": False, "error": error.message, "version": None}}
    inputs.tokenizers_ready = all(tokenizers.is_complete(inputs.tokenizer_dir / tokenizers.folder_name(hub))
                                  for hub in tokenizers.HUB_IDS)
    for folder in (paths.cache_dir(), paths.runs_dir()):
        existing = next(p for p in [folder, *folder.parents] if p.exists())
        inputs.free_gb[str(folder)] = round(shutil.disk_usage(existing).free / 2**30, 1)
    return inputs


def run_checks(inputs: Inputs | None = None, **collect_options) -> list[Check]:
    """The doctor's checklist; collects first unless inputs are given."""
    inputs = inputs or collect(**collect_options)
    checks = _backend_checks(inputs)
    checks += _python_checks(inputs)
    checks += _setup_checks(inputs)
    return checks


def _backend_checks(inputs: Inputs) -> list[Check]:
    backend = inputs.backend
    if backend is None:
        error = inputs.backend_error
        return [Check("backend", FAIL, error.message if error else "no sd-scripts checkout is configured",
                      (error.hint if error else None) or SETUP_HINT)]
    checks = [Check("backend", PASS, f"{backend.root} (from {'KOHYA_WRAP_SD_SCRIPTS' if backend.found_by == 'env' else 'registration'})")]
    pin = backend.pinned_commit[:9]
    if backend.at_pin and backend.commit_source == "fingerprint":
        checks.append(Check("pin", PASS, f"matches {pin} by file fingerprint (not a git checkout)"))
    elif backend.at_pin and backend.dirty:
        checks.append(Check("pin", WARN, f"at {pin} but with local changes beyond kohya-wrap's patches",
                            "run `git -C ROOT status` to see them"))
    elif backend.at_pin:
        checks.append(Check("pin", PASS, f"at {pin} ({backend.commit_source})"))
    elif backend.commit is None:
        checks.append(Check("pin", WARN, f"commit unknown (no .git, no marker, files differ from {pin})",
                            "run `kohya-wrap backend install` for a checkout at the pin"))
    else:
        checks.append(Check("pin", WARN, f"at {backend.commit[:9]}, kohya-wrap is tested with {pin}",
                            f"run `kohya-wrap backend install --dir {backend.root}` to check out the pin"))
    return checks + [_patch_check(inputs.patches)]


def _patch_check(statuses: list) -> Check:
    if not statuses:
        return Check("patches", PASS, "no patches to apply")
    broken = [s for s in statuses if s.status == patches_mod.ANCHOR_MISSING]
    pending = [s for s in statuses if s.status in (patches_mod.NOT_APPLIED, patches_mod.PARTLY)]
    if any(s.patch.required for s in broken + pending):
        return Check("patches", FAIL, "; ".join(s.line() for s in broken + pending), "run `kohya-wrap backend patches --apply`")
    if broken or pending:
        return Check("patches", WARN, f"{len(statuses) - len(broken) - len(pending)}/{len(statuses)} applied; optional: "
                     + ", ".join(f"{s.patch.name} {s.status}" for s in broken + pending),
                     "run `kohya-wrap backend patches --apply` (only optional fixes are missing)")
    return Check("patches", PASS, f"all {len(statuses)} applied")


def _python_checks(inputs: Inputs) -> list[Check]:
    facts = inputs.facts
    if facts is None:
        return [Check("python", FAIL, inputs.facts_error or "the backend python could not be probed",
                      "set KOHYA_WRAP_PYTHON to the interpreter that has sd-scripts' packages")]
    checks = [Check("python", PASS, f"Python {facts.python_version} at {facts.python}")]
    if inputs.imports:
        failed = {name: info["error"] for name, info in inputs.imports.items() if not info["ok"]}
        checks.append(Check("packages", FAIL, "cannot import: " + "; ".join(f"{n} ({e})" for n, e in failed.items()),
                            "run `kohya-wrap backend install` or pip install the missing packages")
                      if failed else Check("packages", PASS, f"{len(inputs.imports)} modules import, sd-scripts included"))
        off = [f"{name} {inputs.installed.get(name)} (wants {want})" for name, want in inputs.pins.items()
               if inputs.installed.get(name) not in (want, None)]
        if off:
            checks.append(Check("versions", WARN, "differ from requirements.txt: " + ", ".join(off),
                                "these usually work; reinstall the pinned versions if a run fails oddly"))
    if facts.cuda_available:
        checks.append(Check("gpu", PASS, f"{facts.gpu_name}, sm_{(facts.compute_capability or '').replace('.', '')}, "
                            f"{facts.gpu_memory_gb} GiB" + (" unified" if facts.unified_memory else "")))
    else:
        subs = apply_profile(facts, {})[1]
        checks.append(Check("gpu", WARN, subs[0].reason if subs else "no CUDA GPU",
                            "a CUDA GPU and a CUDA build of torch are needed for useful speed"))
    subs = apply_profile(facts, TYPICAL_ARGS)[1]
    lines = [s.line() for s in subs if s.key != "device"]
    checks.append(Check("profile", PASS, "for xformers + AdamW8bit + bf16 presets: " + ("; ".join(lines) or "no changes")))
    return checks + [_memory_check(facts)]


def _memory_check(facts: Facts) -> Check:
    if facts.cuda_available and not facts.unified_memory and (facts.gpu_memory_gb or 0) < 12:
        return Check("memory", WARN, f"GPU has {facts.gpu_memory_gb} GiB; SDXL LoRA training is tight below 12 GiB",
                     "use gradient checkpointing, cached latents and batch size 1")
    if not facts.cuda_available and (facts.system_memory_gb or 0) < CPU_PEAK_GB + 4:
        return Check("memory", WARN, f"{facts.system_memory_gb} GiB RAM; the SDXL trainer peaks near {CPU_PEAK_GB} GB "
                     "on CPU while loading the model", "close other programs before a CPU run")
    return Check("memory", PASS, f"{facts.system_memory_gb} GiB RAM" + (
        f", {facts.gpu_memory_gb} GiB GPU" if facts.cuda_available else ""))


def _setup_checks(inputs: Inputs) -> list[Check]:
    checks = [Check("tokenizers", PASS, f"cached in {inputs.tokenizer_dir}") if inputs.tokenizers_ready else
              Check("tokenizers", WARN, f"not cached in {inputs.tokenizer_dir}; sd-scripts would download them",
                    "run `kohya-wrap backend tokenizers` (offline: add --vocab FILE)")]
    for folder, free in inputs.free_gb.items():
        status = FAIL if free < 2 else WARN if free < 10 else PASS
        checks.append(Check("disk", status, f"{free} GiB free for {folder}",
                            None if status == PASS else "latent caches, checkpoints and LoRAs need room; free some space"))
    return checks


def summary_counts(checks: list[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in (PASS, WARN, FAIL)}


def env_snapshot() -> dict[str, str]:
    """The kohya-wrap environment variables in effect (shown by doctor --json)."""
    return {key: value for key, value in os.environ.items() if key.startswith("KOHYA_WRAP_")}

"""Install the pinned sd-scripts: gather state, plan (pure: git argv + adjusted requirements), run."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from kohya_wrap import paths
from kohya_wrap.backend import locate, patches
from kohya_wrap.backend.pin import Pin
from kohya_wrap.backend.platform import Facts
from kohya_wrap.errors import BackendError

CUDA_TORCH_HINT = ("install a CUDA build of torch first, e.g. `pip install torch torchvision --index-url "
                   "https://download.pytorch.org/whl/cu130` (or use NVIDIA's PyTorch container), then re-run; "
                   "--allow-cpu-torch installs anyway")


@dataclass
class CheckoutState:
    """What is on disk before installing (gathered by checkout_state, injected in tests)."""

    exists: bool = False
    is_git: bool = False
    head: str | None = None
    has_ref: bool = False
    requirements_text: str | None = None


@dataclass
class InstallPlan:
    source: str
    ref: str
    dest: Path
    python: str
    git: list[list[str]] = field(default_factory=list)
    requirements: list[str] | None = None  # None: read from the checkout once it exists
    constraints: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    install_requirements: bool = True
    allow_cpu_torch: bool = False
    facts: Facts | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["dest"] = str(self.dest)
        return data

    def lines(self) -> list[str]:
        out = [f"source: {self.source} @ {self.ref}", f"checkout: {self.dest}"]
        out += [f"  $ {shlex.join(argv)}" for argv in self.git] or ["  (already at the requested commit)"]
        out.append("patches: apply vendor/patches (anchor-checked)")
        if not self.install_requirements:
            out.append("requirements: skipped (--no-requirements)")
        elif self.requirements is None:
            out.append(f"requirements: read {self.dest}/requirements.txt after checkout, install into {self.python}")
        else:
            out.append(f"requirements ({len(self.requirements)}) into {self.python}: " + ", ".join(self.requirements))
        out += [f"  constraint: {c}" for c in self.constraints] + [f"  change: {c}" for c in self.changes]
        return out + [f"note: {n}" for n in self.notes] + [f"BLOCKED: {b}" for b in self.blockers]


PEFT = "peft>=0.13"


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    return match.group(0).lower().replace("_", "-") if match else ""


def plan_requirements(text: str, dest: Path, facts: Facts) -> tuple[list[str], list[str]]:
    """(requirement lines to install, one line per platform change) from requirements.txt."""
    keep, changes = [], []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        name = _name(line)
        if not line:
            continue
        if line in ("-e .", "-e ./"):
            keep.append(f"-e {dest}")  # the requirements file we pass to pip lives elsewhere
        elif name == "opencv-python":
            # one package for the cv2 module everywhere (the [train] extra installs the headless one too);
            # training never opens a window (only --debug_dataset and the image generator's preview do)
            keep.append("opencv-python-headless" + line[len(name):])
            changes.append(f"{line} -> opencv-python-headless: the same cv2 package as kohya-wrap's [train] extra "
                           "(two opencv packages would overwrite each other's cv2)")
        elif name == "bitsandbytes" and not (facts.cuda_available and facts.os == "Linux"):
            changes.append(f"{line} skipped: 8-bit optimizers need a CUDA GPU on Linux; "
                           "the profile swaps them for 32-bit ones")
        elif name == "xformers" and (facts.is_arm or not facts.cuda_available):
            changes.append(f"{line} skipped: " + ("no aarch64 build" if facts.is_arm else "needs a CUDA GPU")
                           + "; sdpa is used instead")
        elif name in ("torch", "torchvision"):
            changes.append(f"{line} skipped: torch is yours to choose (CUDA build); it is never replaced")
        else:
            keep.append(line)
    if not any(_name(line) == "peft" for line in keep):
        keep.append(PEFT)
        changes.append(f"{PEFT} added: diffusers needs it to load kohya-format LoRAs (validate, generate)")
    return keep, changes


def _torch_checks(facts: Facts, plan: InstallPlan, allow_cpu_torch: bool) -> None:
    if facts.torch:
        plan.constraints.append(f"torch=={facts.torch}")  # pip must never swap the user's (CUDA) torch
        if not facts.torchvision:
            plan.notes.append("torchvision is not importable but sd-scripts imports it (library/utils.py); install "
                              f"the torchvision built for torch {facts.torch}, from the same index as torch"
                              + (f" ({facts.import_errors['torchvision']})" if "torchvision" in facts.import_errors else ""))
    problem = None
    if facts.is_arm and facts.torch is None:
        problem = ("no torch is installed; on aarch64 the package index only has CPU-only torch, so installing "
                   "the requirements would pull a torch that cannot use the GPU")
    elif facts.is_arm and not facts.cuda_available and facts.nvidia_driver:
        problem = (f"torch {facts.torch} is a CPU-only build but this aarch64 machine has an NVIDIA driver; "
                   "the package index's aarch64 torch is CPU-only")
    if problem and allow_cpu_torch:
        plan.notes.append(f"{problem} (going ahead: --allow-cpu-torch)")
    elif problem:
        plan.blockers.append(f"{problem}. To fix: {CUDA_TORCH_HINT}")
    if facts.torch is None and not facts.is_arm:
        plan.notes.append("torch is not installed; diffusers[torch] will pull the package index's default torch")


def plan_install(pin: Pin, facts: Facts, state: CheckoutState, source: str | None = None, ref: str | None = None,
                 dest: Path | None = None, excludes: tuple[str, ...] = (), install_requirements: bool = True,
                 allow_cpu_torch: bool = False) -> InstallPlan:
    """Everything install will do, decided from facts and on-disk state; runs nothing."""
    dest = Path(dest or paths.home() / "sd-scripts")
    plan = InstallPlan(source=source or pin.url, ref=ref or pin.commit, dest=dest, python=facts.python,
                       install_requirements=install_requirements, allow_cpu_torch=allow_cpu_torch, facts=facts)
    if state.exists and not state.is_git:
        plan.blockers.append(f"{dest} exists and is not a git checkout; register it with `kohya-wrap backend use "
                             f"{dest}` or choose another --dir")
    elif not state.exists:
        plan.git.append(["git", "clone", "--no-checkout", plan.source, str(dest)])
    elif not state.has_ref:
        plan.git.append(["git", "-C", str(dest), "fetch", plan.source, plan.ref])
    if excludes:
        plan.git.append(["git", "-C", str(dest), "sparse-checkout", "set", "--no-cone", "/*",
                         *[f"!/{path.strip('/')}" for path in excludes]])
    if not (state.head and state.head == plan.ref and not excludes):
        plan.git.append(["git", "-C", str(dest), "checkout", "--detach", plan.ref])
    if install_requirements:
        if state.requirements_text is not None:
            plan.requirements, plan.changes = plan_requirements(state.requirements_text, dest, facts)
        _torch_checks(facts, plan, allow_cpu_torch)
    return plan


def checkout_state(dest: Path, source: str, ref: str, requirements_file: str = "requirements.txt") -> CheckoutState:
    """Look at the destination (and a local source) without changing anything."""
    dest = Path(dest)
    state = CheckoutState(exists=any(dest.iterdir()) if dest.is_dir() else dest.exists())
    if state.exists and (dest / ".git").exists():
        state.is_git = True
        state.head = locate.git_output(dest, "rev-parse", "HEAD")
        state.has_ref = locate.git_output(dest, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is not None
        if state.has_ref:
            state.requirements_text = locate.git_output(dest, "show", f"{ref}:{requirements_file}")
    elif Path(source.removeprefix("file://")).exists():
        state.requirements_text = locate.git_output(Path(source.removeprefix("file://")), "show",
                                                    f"{ref}:{requirements_file}")
    return state


Progress = Callable[[str], None]


def _run(argv: list[str], progress: Progress, cwd: Path | None = None) -> str:
    """Run one command, streaming its output lines to progress; BackendError on failure."""
    progress(f"$ {shlex.join(argv)}")
    try:
        child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as error:
        raise BackendError(f"Cannot run {argv[0]}: {error}", hint=f"install {argv[0]} and re-run") from None
    lines = []
    for line in child.stdout:
        lines.append(line.rstrip("\n"))
        progress("  " + lines[-1])
    if child.wait() != 0:
        raise BackendError(f"`{shlex.join(argv[:4])} ...` failed (exit {child.returncode}): "
                           + " | ".join(lines[-3:]), hint=_failure_hint(argv, "\n".join(lines)))
    return "\n".join(lines)


def _failure_hint(argv: list[str], output: str) -> str:
    if argv[0] == "git" and ("corruption" in output or "missing" in output or "invalid object" in output):
        return ("the source repository lacks some objects; clone from it as a plain path (not file://) and "
                "leave the missing files out with --exclude PATH, or use a complete mirror")
    if argv[0] == "git" and ("Could not resolve host" in output or "unable to access" in output):
        return "no network: pass --source with a local mirror or path (offline clusters)"
    return "see the output above"


def _check_complete(dest: Path, ref: str) -> str:
    commit = locate.git_output(dest, "rev-parse", "HEAD")
    is_sha = re.fullmatch(r"[0-9a-f]{7,40}", ref.lower()) is not None
    if commit is None or (is_sha and not commit.startswith(ref.lower())):
        raise BackendError(f"{dest} is at {commit}, not {ref}", hint="check the --ref and --source")
    missing = locate.changed_files(dest, kinds="D") or []
    if missing:
        raise BackendError(f"The checkout is incomplete: {len(missing)} file(s) could not be read from the source "
                           f"(missing objects): {', '.join(missing[:5])}",
                           hint="use a complete clone as --source, or leave those paths out with --exclude PATH "
                                "(sparse checkout)")
    return commit


def run_install(plan: InstallPlan, progress: Progress = print) -> dict:
    """Carry out a plan: git, patches, requirements; register the checkout and record what was done."""
    if plan.blockers:
        raise BackendError("Install stopped before changing anything:\n  " + "\n  ".join(plan.blockers),
                           hint=CUDA_TORCH_HINT if "torch" in " ".join(plan.blockers) else None)
    started = time.time()
    if plan.dest.is_dir() and (plan.dest / ".git").exists():
        reverted = patches.revert_patches(plan.dest, patches.plan_patches(plan.dest))
        if reverted:
            progress(f"reverted our patches before checkout: {', '.join(reverted)}")
    plan.dest.parent.mkdir(parents=True, exist_ok=True)
    for argv in plan.git:
        _run(argv, progress)
    commit = _check_complete(plan.dest, plan.ref)
    applied = patches.apply_patches(plan.dest, patches.plan_patches(plan.dest))
    progress(f"patches applied: {', '.join(applied) or 'none needed'}")
    record = {"source": plan.source, "ref": plan.ref, "commit": commit, "dest": str(plan.dest),
              "python": plan.python, "patches_applied": applied, "requirements": None, "changes": [],
              "notes": plan.notes, "facts": plan.facts.to_dict() if plan.facts else None}
    if plan.install_requirements:
        record.update(_install_requirements(plan, progress))
    record["seconds"] = round(time.time() - started, 1)
    record["installed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    locate.register_backend(plan.dest, python=plan.python, how="install", install=record)
    return record


def _install_requirements(plan: InstallPlan, progress: Progress) -> dict:
    requirements, changes = plan.requirements, plan.changes
    if requirements is None:
        text = (plan.dest / "requirements.txt").read_text(encoding="utf-8")
        requirements, changes = plan_requirements(text, plan.dest, plan.facts)
    for change in changes:
        progress(f"requirement change: {change}")
    folder = paths.home() / "install"
    folder.mkdir(parents=True, exist_ok=True)
    req_file, constraints_file = folder / "requirements.txt", folder / "constraints.txt"
    req_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    constraints_file.write_text("\n".join(plan.constraints) + "\n", encoding="utf-8")
    argv = [plan.python, "-m", "pip", "install", "-r", str(req_file)]
    _run(argv + (["-c", str(constraints_file)] if plan.constraints else []), progress)
    return {"requirements": requirements, "changes": changes, "constraints": plan.constraints}

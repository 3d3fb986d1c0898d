"""Find the sd-scripts checkout and its python: env override, then the registered one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.backend import patches as patches_mod
from kohya_wrap.backend.pin import Pin, fingerprint_mismatches, load_pin
from kohya_wrap.errors import BackendError
from kohya_wrap.fileio import write_json_atomic

ENV_ROOT = "KOHYA_WRAP_SD_SCRIPTS"
ENV_PYTHON = "KOHYA_WRAP_PYTHON"
REGISTRY_FILE = "backend.json"
MARKER_FILE = ".kohya-wrap-backend.json"
SETUP_HINT = ("run `kohya-wrap backend install` to clone the pinned sd-scripts, or "
              "`kohya-wrap backend use PATH` to register an existing checkout")


@dataclass
class Backend:
    root: Path
    python: str
    commit: str | None
    dirty: bool | None
    pinned_commit: str
    at_pin: bool
    commit_source: str = "none"  # git | marker | fingerprint | none
    found_by: str = ""  # env | registered

    @property
    def entry_script(self) -> Path:
        return self.root / load_pin().entry_script

    def to_dict(self) -> dict:
        data = asdict(self)
        data["root"] = str(self.root)
        return data


def registry_path() -> Path:
    return paths.home() / REGISTRY_FILE


def read_registry() -> dict:
    path = registry_path()
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise BackendError(f"Cannot read {path}: {error}", hint="fix or delete it, then " + SETUP_HINT) from None


def register_backend(root: Path, python: str | None = None, how: str = "use", install: dict | None = None) -> dict:
    """Remember a checkout (and optionally its python) as the backend to use."""
    root = check_root(Path(root))
    record = {"root": str(root), "python": python, "how": how,
              "registered_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if install is not None:
        record["install"] = install
    write_json_atomic(registry_path(), record)
    return record


def check_root(root: Path, pin: Pin | None = None) -> Path:
    """The resolved root, or a BackendError saying why this is not an sd-scripts checkout."""
    pin = pin or load_pin()
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise BackendError(f"sd-scripts folder not found: {root}", hint=SETUP_HINT)
    if not (root / pin.entry_script).is_file():
        raise BackendError(f"{root} has no {pin.entry_script}; it is not an sd-scripts checkout",
                           hint="point at the folder that holds sdxl_train_network.py")
    return root


def backend_python() -> str:
    """The interpreter that runs sd-scripts: env, then the registered one, then this one."""
    return os.environ.get(ENV_PYTHON) or read_registry().get("python") or sys.executable


def find_backend() -> Backend | None:
    """The configured backend, None if none is configured; BackendError if the configured one is broken."""
    registry = read_registry()
    if os.environ.get(ENV_ROOT):
        root, found_by = Path(os.environ[ENV_ROOT]), "env"
    elif registry.get("root"):
        root, found_by = Path(registry["root"]), "registered"
    else:
        return None
    pin = load_pin()
    root = check_root(root, pin)
    python = backend_python()
    commit, source, dirty = identify(root, pin)
    return Backend(root=root, python=python, commit=commit, dirty=dirty, pinned_commit=pin.commit,
                   at_pin=commit == pin.commit, commit_source=source, found_by=found_by)


def require_backend() -> Backend:
    backend = find_backend()
    if backend is None:
        raise BackendError("No sd-scripts backend is configured", hint=SETUP_HINT + f" (or set {ENV_ROOT})")
    return backend


def identify(root: Path, pin: Pin) -> tuple[str | None, str, bool | None]:
    """(commit, how it was found, dirty) for a git checkout, a marked tree or a fingerprinted tree."""
    if (root / ".git").exists():
        commit = git_output(root, "rev-parse", "HEAD")
        if commit:
            return commit, "git", git_dirty(root)
    marker = read_marker(root)
    mismatched = fingerprint_mismatches(root, pin)
    if marker.get("commit"):
        dirty = bool(mismatched) if marker["commit"] == pin.commit else None
        return marker["commit"], "marker", dirty
    if pin.fingerprint and not mismatched:
        return pin.commit, "fingerprint", None
    return None, "none", None


def read_marker(root: Path) -> dict:
    try:
        return json.loads((root / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def write_marker(root: Path, commit: str, source: str) -> None:
    write_json_atomic(root / MARKER_FILE, {"commit": commit, "source": source,
                                           "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def git_bytes(root: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_output(root: Path, *args: str) -> str | None:
    out = git_bytes(root, *args)
    return None if out is None else out.decode("utf-8", "replace").strip()


def git_dirty(root: Path) -> bool | None:
    """True if tracked files differ from HEAD in ways our own applied patches do not explain."""
    changed = changed_files(root)
    if changed is None:
        return None
    for name in changed:
        original = git_bytes(root, "show", f"HEAD:{name}")
        if original is None or not patches_mod.explains_change(root, name, original):
            return True
    return False


def changed_files(root: Path, kinds: str = "MADRCU") -> list[str] | None:
    """Tracked files that differ from HEAD (porcelain status letters in KINDS), or None without git."""
    out = git_bytes(root, "status", "--porcelain", "--untracked-files=no")
    if out is None:
        return None
    lines = out.decode("utf-8", "replace").splitlines()  # not stripped: the first column may be a space
    return [line[3:] for line in lines if len(line) > 3 and set(line[:2].strip()) & set(kinds)]

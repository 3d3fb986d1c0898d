"""Before a launch: can the backend's Python import what the training script needs? Checked once per interpreter."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import BackendError
from kohya_wrap.fileio import write_json_atomic

CACHE_NAME = "importcheck.json"
ALWAYS = ("accelerate", "torch")  # the launcher and the trainer import these first
IMPORTED = ("accelerate",)  # imported for real (it imports torch): a broken binary build shows here
TIMEOUT_S = 120
# Run in the backend's Python: find every module first (a missing one fails in well under a second), then import.
CHILD = r"""
import importlib, importlib.util, json, sys
found, imports = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.path.insert(0, sys.argv[3])
missing = {}
for name in found:
    try:
        if importlib.util.find_spec(name) is None:
            missing[name] = f"ModuleNotFoundError: No module named {name!r}"
    except (ImportError, ValueError) as error:
        missing[name] = f"{type(error).__name__}: {error}"
if not missing:
    for name in imports:
        try:
            importlib.import_module(name)
        except BaseException as error:
            missing[name] = f"{type(error).__name__}: {error}".splitlines()[0]
print("KOHYA_WRAP_IMPORTS " + json.dumps(missing))
"""
_CHECKED: set[str] = set()  # keys this process already found good


def needed_modules(root: Path, entry: Path) -> list[str]:
    """Top-level packages the entry script and the checkout's modules it imports need at import time
    (module-level imports, outside try blocks: an optional import may be missing)."""
    seen: set[Path] = set()
    third_party: set[str] = set(ALWAYS)
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for name, maybe_module in _module_imports(path):
            local = _local_file(root, name)
            if local is not None:
                todo.append(local)
            elif not maybe_module and not (root / name.split(".")[0]).is_dir() \
                    and name.split(".")[0] not in sys.stdlib_module_names:
                third_party.add(name.split(".")[0])
    return sorted(third_party)


def _module_imports(path: Path) -> list[tuple[str, bool]]:
    """(dotted name, whether it is only maybe a module: the `y` of `from x import y`)."""
    tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    names: list[tuple[str, bool]] = []
    for node in tree.body:  # module level only
        if isinstance(node, ast.Import):
            names += [(alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append((node.module, False))
            names += [(f"{node.module}.{alias.name}", True) for alias in node.names if alias.name != "*"]
    return names


def _local_file(root: Path, name: str) -> Path | None:
    """The checkout's own file for a dotted module name (library.train_util -> library/train_util.py)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def cache_key(python: str, root: Path) -> str:
    """Interpreter path and mtimes: a re-created venv or an install/uninstall (its bin/ folder changes) re-checks."""
    real = os.path.realpath(python)
    parts = [python, real]
    for path in (real, os.path.dirname(os.path.abspath(python)), str(root / "library"), str(root)):
        try:
            parts.append(str(os.stat(path).st_mtime_ns))
        except OSError:
            parts.append("-")
    return "|".join(parts)


def check_imports(python: str, root: Path, entry: Path) -> dict:
    """Raise BackendError naming the first module the backend's Python lacks (with the command that installs it);
    return what was checked. A good result is cached under the cache folder."""
    root = Path(root)
    key = cache_key(python, root)
    cache_file = paths.cache_dir() / CACHE_NAME
    cached = _read_cache(cache_file)
    if key in _CHECKED or key in cached:
        return {"cached": True, "python": python}
    modules = needed_modules(root, Path(entry))
    started = time.monotonic()
    missing = _run_child(python, root, modules)
    if missing:
        raise _error(python, missing)
    _CHECKED.add(key)
    cached[key] = {"checked_at": time.time(), "modules": modules}
    write_json_atomic(cache_file, cached)
    return {"cached": False, "python": python, "modules": modules, "seconds": round(time.monotonic() - started, 2)}


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent or damaged: check again and rewrite it
    return data if isinstance(data, dict) else {}


def _run_child(python: str, root: Path, modules: list[str]) -> dict[str, str]:
    argv = [python, "-c", CHILD, json.dumps(modules), json.dumps(list(IMPORTED)), str(root)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=str(root))
    except FileNotFoundError:
        raise BackendError(f"The backend's Python {python} does not exist",
                           hint="set KOHYA_WRAP_PYTHON to the Python that has sd-scripts' packages, or run "
                                "`kohya-wrap backend install`") from None
    except subprocess.TimeoutExpired:
        return {}  # a slow disk, not a missing module: the launch itself will tell
    line = next((l for l in reversed(done.stdout.splitlines()) if l.startswith("KOHYA_WRAP_IMPORTS ")), None)
    if line is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BackendError(f"The backend's Python {python} failed to start: {tail[0]}",
                           hint="`kohya-wrap doctor` checks the backend; `kohya-wrap backend install` rebuilds it")
    return json.loads(line.split(" ", 1)[1])


def _error(python: str, missing: dict[str, str]) -> BackendError:
    names = sorted(missing)
    first = names[0]
    detail = "; ".join(f"{name}: {missing[name]}" for name in names[:4])
    absent = [name for name in names if missing[name].startswith("ModuleNotFoundError")]
    fix = (f"`{python} -m pip install {' '.join(pip_name(n) for n in absent)}`" if absent else
           f"reinstall {first} in that Python")
    return BackendError(f"The backend's Python ({python}) cannot import {', '.join(names)}, which sd-scripts "
                        f"needs to start ({detail})",
                        hint=f"{fix}, or `kohya-wrap backend install`; KOHYA_WRAP_PYTHON picks another Python.")


PIP_NAMES = {"cv2": "opencv-python-headless", "PIL": "pillow", "yaml": "pyyaml", "google": "protobuf",
             "sklearn": "scikit-learn", "skimage": "scikit-image"}


def pip_name(module: str) -> str:
    return PIP_NAMES.get(module, module)

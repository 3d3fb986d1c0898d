"""DESIGN.md's import rules as one table, checked on the source (string imports through importlib too)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kohya_wrap"
GROUND = {"errors", "paths", "fileio", "tomlcompat", "procs", "__init__"}
# package (or top-level module) -> the internal packages it may import besides itself and the ground.
ALLOWED: dict[str, set[str]] = {
    **{name: set() for name in GROUND},
    "job": set(),
    "presets": {"job"},
    "dataset": {"job"},
    "backend": {"job"},
    "launch": {"job"},
    "logs": {"job"},
    "limits": {"job"},
    "config": {"job", "presets", "dataset"},
    "artifacts": {"job"},
    "reports": {"job", "artifacts", "logs"},
    "registry": {"job", "artifacts"},
    "captioning": {"job", "dataset", "backend", "presets"},
    "validate": {"job", "backend", "artifacts", "dataset"},
    "estimate": {"job", "config", "presets", "backend", "limits"},
    "importers": {"job", "config", "presets", "artifacts", "dataset"},
    "runner": {"job", "presets", "dataset", "backend", "launch", "logs", "limits", "config", "artifacts",
               "reports", "registry", "captioning", "validate", "estimate", "importers"},
    "cli": {"job", "presets", "dataset", "backend", "launch", "logs", "limits", "config", "artifacts", "reports",
            "registry", "runner", "captioning", "validate", "estimate", "importers", "cli",
            "web"},  # only `kohya-wrap serve`, which starts the second face
    "web": {"job", "reports", "registry", "runner", "config", "presets", "artifacts", "dataset", "limits",
            "estimate", "web", "captioning"},
    "__main__": {"cli"},
}
STRING_IMPORT = re.compile(r"""(?:import_module|find_spec|__import__)\(\s*["']kohya_wrap\.(\w+)""")


def unit_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def internal_imports(path: Path) -> set[str]:
    """Top-level internal units that a file imports: import statements and importlib strings."""
    text = path.read_text(encoding="utf-8")
    found = set(STRING_IMPORT.findall(text))
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kohya_wrap"):
            parts = node.module.split(".")
            names = [parts[1]] if len(parts) > 1 else [alias.name for alias in node.names]
            found.update("__init__" if name.startswith("__") else name for name in names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("kohya_wrap.") and alias.name.count(".") >= 1)
    return found


def violations(paths) -> dict[str, list[str]]:
    bad = {}
    for path in paths:
        unit = unit_of(path)
        allowed = ALLOWED.get(unit, set()) | GROUND | {unit}
        extra = internal_imports(path) - allowed
        if extra or unit not in ALLOWED:
            bad[str(path.relative_to(PACKAGE))] = sorted(extra) or ["(not in the table)"]
    return bad


def test_every_module_follows_the_table():
    assert violations(sorted(PACKAGE.rglob("*.py"))) == {}


def test_the_ground_imports_nothing_internal_but_the_ground():
    for path in PACKAGE.glob("*.py"):
        if path.stem in GROUND - {"__init__"}:
            assert internal_imports(path) <= GROUND, path


def test_the_check_fails_on_a_violating_edit(tmp_path, monkeypatch):
    # The same check over a copy of a store module that now imports the runner.
    fake = PACKAGE / "registry" / "_violation_probe.py"
    try:
        fake.write_text("from kohya_wrap.runner.worker import Worker\n"
                        "import importlib\nimportlib.import_module('kohya_wrap.launch.process')\n")
        assert violations([fake]) == {"registry/_violation_probe.py": ["launch", "runner"]}
    finally:
        fake.unlink()


def test_nothing_imports_the_faces():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if unit_of(p) not in ("cli", "web", "__main__") and {"cli", "web"} & internal_imports(p)]
    assert offenders == []


def test_no_import_circle_between_units():
    edges = {}
    for path in PACKAGE.rglob("*.py"):
        unit = unit_of(path)
        edges.setdefault(unit, set()).update(internal_imports(path) - {unit})

    def reaches(start: str, goal: str, seen: set) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    circles = sorted(unit for unit in edges if reaches(unit, unit, {unit}))
    assert circles == []


def _print_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]


# Scripts that run inside the backend's Python (or another child interpreter) talk over stdout; by
# convention their module names start with one underscore.
CHILD_SCRIPT = re.compile(r"^_[a-z].*\.py$")


@pytest.mark.parametrize("unit", sorted(set(ALLOWED) - {"cli", "__main__"}))
def test_the_library_does_not_print(unit):
    root = PACKAGE / unit
    files = root.rglob("*.py") if root.is_dir() else [PACKAGE / f"{unit}.py"]
    found = {str(p.relative_to(PACKAGE)): _print_calls(p) for p in files
             if p.is_file() and not CHILD_SCRIPT.match(p.name) and _print_calls(p)}
    assert found == {}

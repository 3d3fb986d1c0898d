"""DESIGN.md's import rules between stages, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kohya_wrap"
ALLOWED = {
    "presets": {"errors", "paths", "presets", "tomlcompat", "fileio"},
    "dataset": {"errors", "paths", "dataset", "fileio"},
    "config": {"errors", "paths", "presets", "dataset", "config", "tomlcompat", "fileio"},
    "launch": {"errors", "paths", "launch", "fileio"},
    "logs": {"errors", "paths", "logs", "fileio"},
}
FORBIDDEN_FOR_ALL = {"cli"}


def internal_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kohya_wrap"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "kohya_wrap" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_stage_imports_only_what_design_allows(stage):
    bad = {}
    for path in (PACKAGE / stage).rglob("*.py"):
        extra = internal_imports(path) - ALLOWED[stage]
        if extra:
            bad[str(path.relative_to(PACKAGE))] = sorted(extra)
    assert bad == {}


def test_nothing_outside_cli_imports_cli():
    offenders = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                 if path.relative_to(PACKAGE).parts[0] not in ("cli", "__main__.py")
                 and FORBIDDEN_FOR_ALL & internal_imports(path)]
    assert offenders == []


def test_registry_and_reports_do_not_import_launch_or_runner():
    for stage in ("registry", "reports"):
        for path in (PACKAGE / stage).rglob("*.py"):
            assert not {"launch", "runner"} & internal_imports(path), path

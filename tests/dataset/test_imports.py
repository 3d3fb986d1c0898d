"""dataset/ imports nothing internal except errors, paths and fileio (design rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import kohya_wrap.dataset as package

ALLOWED = {"kohya_wrap.errors", "kohya_wrap.paths", "kohya_wrap.fileio", "kohya_wrap"}


def test_dataset_imports_only_allowed_internal_modules():
    bad = []
    for source in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "kohya_wrap"
                                         else [])
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("kohya_wrap") and not (name in ALLOWED or name.startswith("kohya_wrap.dataset")):
                    bad.append(f"{source.name}: {name}")
    assert bad == []


def test_cli_module_imports_no_heavy_libraries_at_start(tmp_path):
    import subprocess
    import sys

    code = "import sys, kohya_wrap.cli.data; print(sorted(m for m in ('PIL', 'numpy', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

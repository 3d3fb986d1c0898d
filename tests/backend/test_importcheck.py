"""Before launch: the backend's Python must import what sd-scripts needs; it fails in about a second with the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kohya_wrap import paths
from kohya_wrap.backend import importcheck
from kohya_wrap.errors import BackendError

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "standin"


def checkout(tmp_path: Path, entry_imports: str, util_imports: str = "import numpy") -> Path:
    root = tmp_path / "sd"
    (root / "library").mkdir(parents=True)
    (root / "sdxl_train_network.py").write_text(entry_imports + "\nimport library.train_util\n")
    (root / "library" / "train_util.py").write_text(textwrap.dedent(f"""\
        import os
        {util_imports}
        from library import strategy_base
        try:
            import xformers_optional_here
        except ImportError:
            pass
        def later():
            import only_when_called
        """))
    (root / "library" / "strategy_base.py").write_text("from safetensors.torch import load_file\n")
    return root


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    monkeypatch.setattr(importcheck, "_CHECKED", set())


def test_needed_modules_follow_the_checkouts_own_imports(tmp_path):
    root = checkout(tmp_path, "import toml\nfrom PIL import Image")
    assert importcheck.needed_modules(root, root / "sdxl_train_network.py") == [
        "PIL", "accelerate", "numpy", "safetensors", "toml", "torch"]  # optional and deferred imports left out


def test_a_missing_module_fails_fast_with_the_pip_command(tmp_path):
    root = checkout(tmp_path, "import kohya_wrap_test_no_such_module")
    started = time.monotonic()
    with pytest.raises(BackendError) as raised:
        importcheck.check_imports(sys.executable, root, root / "sdxl_train_network.py")
    assert time.monotonic() - started < 5  # found missing before anything heavy is imported
    assert "cannot import kohya_wrap_test_no_such_module" in raised.value.message
    assert f"{sys.executable} -m pip install kohya_wrap_test_no_such_module" in raised.value.hint
    assert "backend install" in raised.value.hint
    assert not (paths.cache_dir() / importcheck.CACHE_NAME).exists()  # a failure is never cached


def test_a_good_interpreter_is_checked_once(tmp_path, monkeypatch):
    pytest.importorskip("accelerate")
    root = checkout(tmp_path, "import json")
    first = importcheck.check_imports(sys.executable, root, root / "sdxl_train_network.py")
    assert first["cached"] is False and "accelerate" in first["modules"]
    cache = json.loads((paths.cache_dir() / importcheck.CACHE_NAME).read_text())
    assert list(cache) == [importcheck.cache_key(sys.executable, root)]
    monkeypatch.setattr(importcheck, "_CHECKED", set())  # a new process: the file cache answers

    def no_child(*args, **kwargs):
        raise AssertionError("the cached interpreter was checked again")

    monkeypatch.setattr(subprocess, "run", no_child)
    assert importcheck.check_imports(sys.executable, root, root / "sdxl_train_network.py")["cached"] is True


def test_the_key_changes_when_the_interpreter_folder_changes(tmp_path):
    root = checkout(tmp_path, "import json")
    before = importcheck.cache_key(sys.executable, root)
    os.utime(root / "library", ns=(1, 1))
    assert importcheck.cache_key(sys.executable, root) != before


def test_a_broken_import_is_reported_with_its_error(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "accelerate").mkdir(parents=True)
    (site / "accelerate" / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    pytest.importorskip("torch")
    root = checkout(tmp_path, "import json", util_imports="import os")
    with pytest.raises(BackendError) as raised:
        importcheck.check_imports(sys.executable, root, root / "sdxl_train_network.py")
    assert "accelerate: RuntimeError: operator torchvision::nms does not exist" in raised.value.message
    assert "reinstall accelerate" in raised.value.hint


def test_train_refuses_a_python_without_accelerate_before_anything_launches(cli, tmp_path, monkeypatch,
                                                                            example_dataset, model_file):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / "bin" / "python"
    monkeypatch.setenv("KOHYA_WRAP_SD_SCRIPTS", str(STANDIN))
    monkeypatch.setenv("KOHYA_WRAP_PYTHON", str(python))
    started = time.monotonic()
    result = cli("train", "sdxl-style", "--dataset", str(example_dataset), "--model", str(model_file),
                 "--runs", str(tmp_path / "runs"), "platform.allow_cpu=true", "launch.launcher=python")
    assert time.monotonic() - started < 10
    assert result.exit_code == 2, result.output
    assert "cannot import accelerate, torch" in result.output and f"{python} -m pip install accelerate torch" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())

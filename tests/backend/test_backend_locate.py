"""Finding the backend: env override, registration, python precedence, commit from git / marker / fingerprint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kohya_wrap.backend import locate
from kohya_wrap.backend.pin import Pin, fingerprint_mismatches, git_blob_id, load_pin
from kohya_wrap.errors import BackendError

PIN = load_pin()


def make_tree(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PIN.entry_script).write_text("print('train')\n")
    return folder


@pytest.fixture(autouse=True)
def no_backend_env(monkeypatch):
    monkeypatch.delenv(locate.ENV_ROOT, raising=False)
    monkeypatch.delenv(locate.ENV_PYTHON, raising=False)


def test_pin_file_has_the_commit_and_entry_script():
    assert PIN.url == "https://github.com/kohya-ss/sd-scripts"
    assert PIN.commit == "48d368fa557731ad0488c07304dfeba8c07910eb"
    assert PIN.entry_script == "sdxl_train_network.py"
    assert "sdxl_train_network.py" in PIN.fingerprint and "torchvision" in PIN.notes


def test_nothing_configured_gives_none_and_require_explains(tmp_path):
    assert locate.find_backend() is None
    with pytest.raises(BackendError) as caught:
        locate.require_backend()
    assert "backend install" in caught.value.hint and "KOHYA_WRAP_SD_SCRIPTS" in caught.value.hint


def test_env_path_that_is_not_sd_scripts_is_an_error_not_a_skip(tmp_path, monkeypatch):
    monkeypatch.setenv(locate.ENV_ROOT, str(tmp_path))
    with pytest.raises(BackendError, match="has no sdxl_train_network.py"):
        locate.find_backend()
    monkeypatch.setenv(locate.ENV_ROOT, str(tmp_path / "nope"))
    with pytest.raises(BackendError, match="not found"):
        locate.find_backend()


def test_env_overrides_registration_and_python_precedence(tmp_path, monkeypatch):
    registered, other = make_tree(tmp_path / "registered"), make_tree(tmp_path / "env")
    locate.register_backend(registered, python="/registered/python")
    found = locate.require_backend()
    assert (found.root, found.python, found.found_by) == (registered.resolve(), "/registered/python", "registered")
    monkeypatch.setenv(locate.ENV_ROOT, str(other))
    monkeypatch.setenv(locate.ENV_PYTHON, "/env/python")
    found = locate.require_backend()
    assert (found.root, found.python, found.found_by) == (other.resolve(), "/env/python", "env")


def test_python_defaults_to_this_interpreter(tmp_path):
    locate.register_backend(make_tree(tmp_path / "sd"))
    assert locate.require_backend().python == sys.executable


def test_unknown_tree_has_no_commit(tmp_path):
    locate.register_backend(make_tree(tmp_path / "sd"))
    found = locate.require_backend()
    assert (found.commit, found.commit_source, found.at_pin, found.dirty) == (None, "none", False, None)


def test_fingerprint_identifies_a_tree_without_git(tmp_path):
    root = make_tree(tmp_path / "sd")
    (root / "library").mkdir()
    (root / "library" / "a.py").write_bytes(b"x = 1\n")
    pin = Pin(url="u", commit="c" * 40, entry_script=PIN.entry_script,
              fingerprint={"library/a.py": git_blob_id(b"x = 1\n"),
                           PIN.entry_script: git_blob_id(b"print('train')\n")})
    assert locate.identify(root, pin) == ("c" * 40, "fingerprint", None)
    (root / "library" / "a.py").write_bytes(b"x = 2\n")
    assert fingerprint_mismatches(root, pin) == ["library/a.py"]
    assert locate.identify(root, pin) == (None, "none", None)


def test_marker_commit_and_dirty_from_fingerprint(tmp_path):
    root = make_tree(tmp_path / "sd")
    locate.write_marker(root, PIN.commit, "test")
    pin = Pin(url="u", commit=PIN.commit, entry_script=PIN.entry_script,
              fingerprint={PIN.entry_script: git_blob_id(b"print('train')\n")})
    assert locate.identify(root, pin) == (PIN.commit, "marker", False)
    (root / PIN.entry_script).write_text("print('edited')\n")
    assert locate.identify(root, pin) == (PIN.commit, "marker", True)
    assert json.loads((root / locate.MARKER_FILE).read_text())["source"] == "test"


def test_git_blob_id_matches_git(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello\nworld\n")
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True).stdout.strip()
    assert git_blob_id(path.read_bytes()) == expected


def test_git_checkout_commit_and_dirty(tmp_path):
    root = make_tree(tmp_path / "sd")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "x"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    locate.register_backend(root)
    found = locate.require_backend()
    assert (found.commit, found.commit_source, found.dirty, found.at_pin) == (head, "git", False, False)
    (root / "untracked.txt").write_text("ignored")
    assert locate.require_backend().dirty is False
    (root / PIN.entry_script).write_text("print('changed')\n")
    assert locate.require_backend().dirty is True


def test_registry_that_is_not_json_is_reported(isolated_home):
    (isolated_home / locate.REGISTRY_FILE).write_text("{not json")
    with pytest.raises(BackendError, match="Cannot read"):
        locate.find_backend()

"""`backend install` from a local git source (path and file:// URL): commit, patch state, registration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kohya_wrap.backend import locate, patches

pytestmark = pytest.mark.backend
MIRROR = Path("/work/.mirror/kohya-ss+sd-scripts/repo")
MIRROR_MISSING_BLOBS = ("bitsandbytes_windows", "configs/qwen3_06b/tokenizer.json")


@pytest.fixture(autouse=True)
def registered_only(sd_scripts_root, monkeypatch):
    """Runs only where backend tests are enabled; the env override would hide the registration under test."""
    monkeypatch.delenv(locate.ENV_ROOT, raising=False)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def source(tmp_path) -> tuple[Path, list[str]]:
    """A small sd-scripts look-alike: the entry script, the patched files (holding our anchors), requirements."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "sdxl_train_network.py").write_text("print('train')\n")
    (repo / "requirements.txt").write_text("toml==0.10.2\n-e .\n")
    for patch in patches.load_patches():
        target = repo / patch.file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("import os\nimport subprocess\n\n\n" + "".join(h.anchor for h in patch.hunks) + "\n# end\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    commits = [git(repo, "rev-parse", "HEAD")]
    (repo / "sdxl_train_network.py").write_text("print('train v2')\n")
    git(repo, "commit", "-q", "-am", "second")
    commits.append(git(repo, "rev-parse", "HEAD"))
    return repo, commits


def install(cli, backend_python, *args):
    return cli("backend", "install", "--no-requirements", "--python", backend_python, *args)


def assert_installed(dest: Path, commit: str) -> None:
    found = locate.require_backend()
    assert found.root == dest.resolve()
    assert (found.commit, found.commit_source, found.dirty) == (commit, "git", False)
    assert {s.status for s in patches.plan_patches(dest)} == {patches.APPLIED}
    record = json.loads(locate.registry_path().read_text())
    assert record["how"] == "install" and record["install"]["commit"] == commit
    assert len(record["install"]["patches_applied"]) in (0, len(patches.load_patches()))


def test_install_from_path_then_move_to_another_commit(cli, backend_python, source, tmp_path):
    repo, (first, second) = source
    dest = tmp_path / "checkout"
    result = install(cli, backend_python, "--source", repo, "--ref", first, "--dir", dest)
    assert result.exit_code == 0, result.output
    assert f"Installed sd-scripts {first[:9]}" in result.output
    assert_installed(dest, first)
    assert git(dest, "status", "--porcelain", "--untracked-files=no") != ""  # patched, yet not "dirty"

    result = install(cli, backend_python, "--source", repo, "--ref", second, "--dir", dest)
    assert result.exit_code == 0, result.output
    assert "reverted our patches before checkout" in result.output
    assert_installed(dest, second)
    assert (dest / "sdxl_train_network.py").read_text() == "print('train v2')\n"


def test_commit_made_after_the_clone_is_fetched(cli, backend_python, source, tmp_path):
    repo, (first, _) = source
    dest = tmp_path / "checkout"
    assert install(cli, backend_python, "--source", repo, "--ref", first, "--dir", dest).exit_code == 0
    (repo / "requirements.txt").write_text("toml==0.10.2\nrich==14.1.0\n-e .\n")
    git(repo, "commit", "-q", "-am", "third")
    third = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "fourth")  # so the wanted commit is not the branch tip
    result = install(cli, backend_python, "--source", repo, "--ref", third, "--dir", dest)
    assert result.exit_code == 0, result.output
    assert f"$ git -C {dest.resolve()} fetch {repo} {third}" in result.output
    assert_installed(dest, third)


def test_install_from_file_url(cli, backend_python, source, tmp_path):
    repo, (first, _) = source
    dest = tmp_path / "from-url"
    result = install(cli, backend_python, "--source", f"file://{repo}", "--ref", first, "--dir", dest, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["commit"] == first and record["source"] == f"file://{repo}"
    assert_installed(dest, first)


def test_commit_whose_anchor_moved_is_refused(cli, backend_python, source, tmp_path):
    repo, _ = source
    target = repo / patches.load_patches()[0].file
    target.write_text("def something_else():\n    pass\n")
    git(repo, "commit", "-q", "-am", "upstream rewrote it")
    moved = git(repo, "rev-parse", "HEAD")
    result = install(cli, backend_python, "--source", repo, "--ref", moved, "--dir", tmp_path / "d")
    assert result.exit_code == 2
    assert "do not fit this sd-scripts checkout" in result.output and "anchor missing" in result.output
    assert not locate.registry_path().exists()


def test_existing_folder_that_is_not_git_is_refused(cli, backend_python, source, tmp_path):
    repo, (first, _) = source
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "file.txt").write_text("x")
    result = install(cli, backend_python, "--source", repo, "--ref", first, "--dir", tmp_path / "plain")
    assert result.exit_code == 2 and "is not a git checkout" in result.output


@pytest.mark.skipif(not MIRROR.is_dir(), reason="no local mirror of sd-scripts")
def test_install_the_pin_from_the_mirror(cli, backend_python, tmp_path):
    dest = tmp_path / "sd-scripts"
    excludes = [arg for path in MIRROR_MISSING_BLOBS for arg in ("--exclude", path)]
    result = install(cli, backend_python, "--source", MIRROR, "--dir", dest, *excludes)
    assert result.exit_code == 0, result.output
    found = locate.require_backend()
    assert found.at_pin and found.dirty is False and found.commit == locate.load_pin().commit
    assert {s.status for s in patches.plan_patches(dest)} == {patches.APPLIED}

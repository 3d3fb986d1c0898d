"""Anchor-checked patches: parse, status, refuse on a missing anchor, apply, revert, explain a dirty tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kohya_wrap.backend import patches
from kohya_wrap.errors import BackendError

PATCH = """# kohya-wrap patch for sd-scripts
# why: the greeting must be polite
# why: (second line of why)
# file: lib/hello.py
# required: yes
@@@ anchor
def hello():
    return "hi"
@@@ replace
def hello():
    return "hello, please"
@@@ end
"""
UPSTREAM = 'import os\n\n\ndef hello():\n    return "hi"\n\n\nprint(hello())\n'


@pytest.fixture
def tree(tmp_path) -> Path:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "hello.py").write_text(UPSTREAM)
    return tmp_path


def test_parse_reads_header_and_hunk_verbatim():
    patch = patches.parse_patch("0001-x.patch", PATCH)
    assert (patch.file, patch.required) == ("lib/hello.py", True)
    assert patch.why == "the greeting must be polite (second line of why)"
    assert patch.hunks == [patches.Hunk('def hello():\n    return "hi"\n', 'def hello():\n    return "hello, please"\n')]


@pytest.mark.parametrize("broken", [
    PATCH.replace("# file: lib/hello.py\n", ""),
    PATCH.replace("@@@ end\n", ""),
    PATCH.split("@@@ anchor")[0],
])
def test_malformed_patch_is_an_error(broken):
    with pytest.raises(BackendError, match="malformed"):
        patches.parse_patch("bad.patch", broken)


def test_status_apply_and_revert_round_trip(tree):
    patch = patches.parse_patch("0001-x.patch", PATCH)
    [status] = patches.plan_patches(tree, [patch])
    assert status.status == patches.NOT_APPLIED
    os.chmod(tree / "lib" / "hello.py", 0o640)
    assert patches.apply_patches(tree, [status]) == ["0001-x.patch"]
    assert 'return "hello, please"' in (tree / "lib" / "hello.py").read_text()
    assert (tree / "lib" / "hello.py").stat().st_mode & 0o777 == 0o640
    [status] = patches.plan_patches(tree, [patch])
    assert status.status == patches.APPLIED
    assert patches.apply_patches(tree, [status]) == []  # idempotent
    assert patches.explains_change(tree, "lib/hello.py", UPSTREAM.encode(), [patch])
    assert patches.revert_patches(tree, [status]) == ["0001-x.patch"]
    assert (tree / "lib" / "hello.py").read_text() == UPSTREAM


def test_missing_anchor_refuses_loudly_and_writes_nothing(tree):
    good = patches.parse_patch("0001-x.patch", PATCH)
    moved = patches.parse_patch("0002-y.patch", PATCH.replace('return "hi"', 'return "hey"').replace("0001", "0002"))
    statuses = patches.plan_patches(tree, [good, moved])
    assert [s.status for s in statuses] == [patches.NOT_APPLIED, patches.ANCHOR_MISSING]
    assert statuses[1].line() == ("0002-y.patch: anchor missing (lib/hello.py): expected text not found: "
                                  "'def hello():'")
    with pytest.raises(BackendError) as caught:
        patches.apply_patches(tree, statuses)
    assert "1 patch(es) do not fit this sd-scripts checkout" in caught.value.message
    assert "backend install" in caught.value.hint
    assert (tree / "lib" / "hello.py").read_text() == UPSTREAM


def test_missing_target_file_counts_as_anchor_missing(tmp_path):
    [status] = patches.plan_patches(tmp_path, [patches.parse_patch("p.patch", PATCH)])
    assert status.status == patches.ANCHOR_MISSING and "missing or unreadable" in status.detail


def test_anchor_found_twice_is_not_applied_blindly(tree):
    (tree / "lib" / "hello.py").write_text(UPSTREAM + UPSTREAM)
    [status] = patches.plan_patches(tree, [patches.parse_patch("p.patch", PATCH)])
    assert status.status == patches.ANCHOR_MISSING


def test_user_edit_is_not_explained_by_patches(tree):
    patch = patches.parse_patch("p.patch", PATCH)
    patches.apply_patches(tree, patches.plan_patches(tree, [patch]))
    (tree / "lib" / "hello.py").write_text((tree / "lib" / "hello.py").read_text() + "# mine\n")
    assert not patches.explains_change(tree, "lib/hello.py", UPSTREAM.encode(), [patch])
    assert not patches.explains_change(tree, "lib/other.py", b"", [patch])


def test_shipped_patches_parse_and_say_why():
    shipped = patches.load_patches()
    assert [p.name for p in shipped] == ["0001-train-util-commit-without-git.patch",
                                        "0002-model-spec-commit-without-git.patch",
                                        "0003-resume-keeps-step-count.patch"]
    for patch in shipped:
        assert patch.why and not patch.required and patch.hunks
    assert all("KOHYA_WRAP_BACKEND_COMMIT" in patch.hunks[0].replace for patch in shipped[:2])
    assert (shipped[2].file, len(shipped[2].hunks)) == ("train_network.py", 4)
    assert "global_step = resumed_global_step" in shipped[2].hunks[1].replace


def _pinned_upstream(root: Path, name: str) -> bytes:
    """The file as the pinned commit has it; `backend install` patches the work tree, never the commit."""
    import subprocess

    if not (root / ".git").exists():
        pytest.skip(f"{root} is not a git checkout: the pinned upstream files are not at hand")
    return subprocess.run(["git", "-C", str(root), "show", f"HEAD:{name}"], check=True, capture_output=True).stdout


@pytest.mark.backend
def test_shipped_patches_fit_the_real_checkout(tmp_path, sd_scripts_root):
    """Holds for a pristine clone and for the checkout `backend install` made (already patched)."""
    root = sd_scripts_root
    for patch in patches.load_patches():
        (tmp_path / patch.file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / patch.file).write_bytes(_pinned_upstream(root, patch.file))
    assert {s.status for s in patches.plan_patches(tmp_path)} == {patches.NOT_APPLIED}
    assert {s.status for s in patches.plan_patches(root)} <= {patches.NOT_APPLIED, patches.APPLIED}
    patches.apply_patches(tmp_path, patches.plan_patches(tmp_path))
    assert {s.status for s in patches.plan_patches(tmp_path)} == {patches.APPLIED}
    for patch in patches.load_patches():
        compile((tmp_path / patch.file).read_text(), patch.file, "exec")  # still valid Python
        original = _pinned_upstream(root, patch.file)
        assert patches.explains_change(tmp_path, patch.file, original)
        if patches.plan_patches(root, [patch])[0].status == patches.APPLIED:  # the installed checkout
            assert (root / patch.file).read_bytes() == (tmp_path / patch.file).read_bytes()
            assert patches.explains_change(root, patch.file, original)

"""plan_install is pure: git argv lists and the platform-adjusted requirement list from injected facts/state."""

from __future__ import annotations

from pathlib import Path

import pytest

from kohya_wrap.backend.install import PEFT, CheckoutState, plan_install, run_install
from kohya_wrap.backend.install import plan_requirements as plan_with_peft
from kohya_wrap.backend.pin import load_pin
from kohya_wrap.backend.platform import Facts
from kohya_wrap.errors import BackendError

from samples import gb10, x86_cuda

# The shape of sd-scripts' requirements.txt at the pin (pins, an unpinned line, comments, -e .), plus xformers.
REQUIREMENTS = """accelerate==1.6.0
transformers==4.54.1
diffusers[torch]==0.32.1
opencv-python==4.10.0.84
bitsandbytes
xformers==0.0.31  # not in upstream's file; a user's fork might add it
# open-clip-torch==2.20.0
safetensors==0.4.5
-e .
"""
DEST = Path("/opt/sd-scripts")
PIN = load_pin()


def plan_requirements(text, dest, facts):
    """sd-scripts' own requirements as planned; the peft line we add is checked on its own below."""
    reqs, changes = plan_with_peft(text, dest, facts)
    return [r for r in reqs if r != PEFT], [c for c in changes if not c.startswith(PEFT)]


def test_peft_is_added_once_for_diffusers_lora_loading():
    reqs, changes = plan_with_peft("diffusers[torch]==0.32.1\n", DEST, x86_cuda())
    assert reqs.count(PEFT) == 1 and any("peft" in change for change in changes)
    reqs, _ = plan_with_peft("peft==0.14.0\n", DEST, x86_cuda())
    assert reqs == ["peft==0.14.0"]


def plan(facts: Facts, state: CheckoutState | None = None, **options):
    state = state or CheckoutState(requirements_text=REQUIREMENTS)
    return plan_install(PIN, facts, state, dest=DEST, **options)


def test_fresh_install_clones_then_checks_out_the_pin():
    result = plan(x86_cuda())
    assert result.git == [["git", "clone", "--no-checkout", "https://github.com/kohya-ss/sd-scripts", "/opt/sd-scripts"],
                          ["git", "-C", "/opt/sd-scripts", "checkout", "--detach", PIN.commit]]
    assert result.blockers == []


def test_existing_checkout_at_the_pin_needs_no_git_step():
    state = CheckoutState(exists=True, is_git=True, head=PIN.commit, has_ref=True, requirements_text=REQUIREMENTS)
    assert plan(x86_cuda(), state).git == []
    assert "  (already at the requested commit)" in plan(x86_cuda(), state).lines()


def test_existing_checkout_without_the_commit_fetches_it_from_the_source():
    state = CheckoutState(exists=True, is_git=True, head="0" * 40, has_ref=False)
    result = plan(x86_cuda(), state, source="/mirror/sd-scripts.git", ref="abc1234")
    assert result.git == [["git", "-C", "/opt/sd-scripts", "fetch", "/mirror/sd-scripts.git", "abc1234"],
                          ["git", "-C", "/opt/sd-scripts", "checkout", "--detach", "abc1234"]]
    assert result.requirements is None  # read from the checkout after it exists


def test_excludes_become_a_sparse_checkout_before_the_checkout():
    result = plan(x86_cuda(), excludes=("bitsandbytes_windows/", "configs/qwen3_06b/tokenizer.json"))
    assert result.git[1] == ["git", "-C", "/opt/sd-scripts", "sparse-checkout", "set", "--no-cone", "/*",
                             "!/bitsandbytes_windows", "!/configs/qwen3_06b/tokenizer.json"]
    assert result.git[2][3] == "checkout"


def test_a_folder_that_is_not_a_git_checkout_blocks_and_points_to_backend_use():
    result = plan(x86_cuda(), CheckoutState(exists=True, is_git=False))
    assert result.git == [] or result.git[0][3] == "checkout"
    assert "kohya-wrap backend use /opt/sd-scripts" in result.blockers[0]


def test_x86_cuda_keeps_bitsandbytes_and_xformers_and_protects_torch():
    result = plan(x86_cuda(gui_libs=True))
    assert result.requirements == ["accelerate==1.6.0", "transformers==4.54.1", "diffusers[torch]==0.32.1",
                                   "opencv-python-headless==4.10.0.84", "bitsandbytes", "xformers==0.0.31",
                                   "safetensors==0.4.5", "-e /opt/sd-scripts", PEFT]
    assert result.constraints == ["torch==2.7.1+cu128"]
    assert [change for change in result.changes if not change.startswith((PEFT, "opencv"))] == []


@pytest.mark.parametrize("gui_libs", [True, False])
def test_opencv_is_the_headless_package_everywhere(gui_libs):
    """The [train] extra installs opencv-python-headless: backend install must not add a second cv2 package."""
    reqs, changes = plan_requirements(REQUIREMENTS, DEST, x86_cuda(gui_libs=gui_libs))
    assert "opencv-python-headless==4.10.0.84" in reqs and "opencv-python==4.10.0.84" not in reqs
    assert changes[0].startswith("opencv-python==4.10.0.84 -> opencv-python-headless: the same cv2 package")


def test_train_extra_names_the_same_opencv_package():
    from kohya_wrap.tomlcompat import loads

    project = loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    train = project["project"]["optional-dependencies"]["train"]
    opencv = [r for r in train if r.startswith("opencv")]
    assert opencv and all(r.startswith("opencv-python-headless") for r in opencv)
    reqs, _ = plan_requirements(REQUIREMENTS, DEST, x86_cuda(gui_libs=True))
    assert [r.split("==")[0] for r in reqs if r.startswith("opencv")] == ["opencv-python-headless"]


def test_aarch64_cuda_drops_xformers_keeps_bitsandbytes():
    reqs, changes = plan_requirements(REQUIREMENTS, DEST, gb10(gui_libs=True))
    assert "bitsandbytes" in reqs and not any(r.startswith("xformers") for r in reqs)
    assert changes[1:] == ["xformers==0.0.31 skipped: no aarch64 build; sdpa is used instead"]


def test_cpu_only_machine_skips_bitsandbytes_and_xformers():
    facts = Facts(arch="x86_64", os="Linux", python="/tmp/sdenv/bin/python", torch="2.13.0+cpu",
                  torchvision="0.28.0", gui_libs=False)
    reqs, changes = plan_requirements(REQUIREMENTS, DEST, facts)
    assert reqs == ["accelerate==1.6.0", "transformers==4.54.1", "diffusers[torch]==0.32.1",
                    "opencv-python-headless==4.10.0.84", "safetensors==0.4.5", "-e /opt/sd-scripts"]
    assert changes[1] == ("bitsandbytes skipped: 8-bit optimizers need a CUDA GPU on Linux; the profile swaps "
                          "them for 32-bit ones")
    assert changes[2] == "xformers==0.0.31 skipped: needs a CUDA GPU; sdpa is used instead"


def test_torch_lines_are_never_installed():
    reqs, changes = plan_requirements("torch==2.1.0\ntorchvision\nrich==14.1.0\n", DEST, x86_cuda())
    assert reqs == ["rich==14.1.0"]
    assert len(changes) == 2 and "never replaced" in changes[0]


def test_aarch64_without_torch_is_blocked_with_the_cuda_index_hint():
    result = plan(gb10(torch=None, torch_cuda=None, cuda_available=False, torchvision=None))
    assert len(result.blockers) == 1
    assert "on aarch64 the package index only has CPU-only torch" in result.blockers[0]
    assert "--index-url https://download.pytorch.org/whl/cu130" in result.blockers[0]
    assert result.constraints == []


def test_aarch64_cpu_only_torch_with_nvidia_driver_is_blocked():
    result = plan(gb10(torch="2.9.0", torch_cuda=None, cuda_available=False))
    assert result.blockers and "torch 2.9.0 is a CPU-only build" in result.blockers[0]
    assert result.constraints == ["torch==2.9.0"]


def test_allow_cpu_torch_turns_the_blocker_into_a_note():
    result = plan(gb10(torch="2.9.0", torch_cuda=None, cuda_available=False), allow_cpu_torch=True)
    assert result.blockers == []
    assert result.notes[0].endswith("(going ahead: --allow-cpu-torch)")


def test_x86_without_torch_notes_that_diffusers_pulls_one():
    result = plan(x86_cuda(torch=None, cuda_available=False, torchvision=None, nvidia_driver=False))
    assert result.blockers == []
    assert result.notes == ["torch is not installed; diffusers[torch] will pull the package index's default torch"]


def test_missing_torchvision_is_explained():
    result = plan(x86_cuda(torchvision=None, import_errors={"torchvision": "RuntimeError: operator torchvision::nms does not exist"}))
    assert "sd-scripts imports it (library/utils.py)" in result.notes[0]
    assert "torchvision::nms" in result.notes[0]


def test_no_requirements_plans_only_git():
    result = plan(gb10(torch=None), install_requirements=False)
    assert result.blockers == [] and result.requirements is None
    assert "requirements: skipped (--no-requirements)" in result.lines()


def test_run_install_refuses_a_blocked_plan_before_touching_anything(tmp_path):
    blocked = plan_install(PIN, gb10(torch=None), CheckoutState(), dest=tmp_path / "sd")
    with pytest.raises(BackendError) as caught:
        run_install(blocked, progress=lambda line: pytest.fail(f"ran something: {line}"))
    assert caught.value.message.startswith("Install stopped before changing anything")
    assert not (tmp_path / "sd").exists()


def test_plan_serialises_for_dry_run_json():
    data = plan(gb10()).to_dict()
    assert data["dest"] == "/opt/sd-scripts" and data["facts"]["compute_capability"] == "12.1"

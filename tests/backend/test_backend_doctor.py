"""Doctor checks judged from injected inputs, and the CLI's help, errors and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kohya_wrap.backend import doctor, patches
from kohya_wrap.backend.locate import Backend
from kohya_wrap.errors import BackendError

from samples import gb10

PIN = "48d368fa557731ad0488c07304dfeba8c07910eb"


@pytest.fixture(autouse=True)
def no_backend_env(monkeypatch):
    """These tests set up (or leave out) their own backend; a real one from the environment would win."""
    monkeypatch.delenv("KOHYA_WRAP_SD_SCRIPTS", raising=False)
    monkeypatch.delenv("KOHYA_WRAP_PYTHON", raising=False)


def backend(**changes) -> Backend:
    base = dict(root=Path("/opt/sd-scripts"), python="/venv/bin/python", commit=PIN, dirty=False, pinned_commit=PIN,
                at_pin=True, commit_source="git", found_by="registered")
    return Backend(**{**base, **changes})


def inputs(**changes) -> doctor.Inputs:
    ok = {name: {"ok": True, "error": None, "version": "1"} for name in doctor.REQUIRED_MODULES}
    base = dict(backend=backend(), facts=gb10(), imports=ok, installed={"accelerate": "1.6.0"},
                pins={"accelerate": "1.6.0"}, tokenizer_dir=Path("/c/tok"), tokenizers_ready=True,
                free_gb={"/c": 500.0})
    return doctor.Inputs(**{**base, **changes})


def by_name(checks) -> dict[str, doctor.Check]:
    return {check.name: check for check in checks}


def test_healthy_gb10_passes_everything():
    checks = doctor.run_checks(inputs())
    assert {c.name: c.status for c in checks} == {
        "backend": "pass", "pin": "pass", "patches": "pass", "python": "pass", "packages": "pass", "gpu": "pass",
        "profile": "pass", "memory": "pass", "tokenizers": "pass", "disk": "pass"}
    named = by_name(checks)
    assert named["gpu"].detail == "NVIDIA GB10, sm_121, 119.7 GiB unified"
    assert "attention: xformers -> sdpa" in named["profile"].detail


def test_no_backend_fails_with_setup_hint():
    checks = by_name(doctor.run_checks(inputs(backend=None)))
    assert checks["backend"].status == "fail" and "backend install" in checks["backend"].hint
    broken = BackendError("sd-scripts folder not found: /x", hint="fix it")
    assert by_name(doctor.run_checks(inputs(backend=None, backend_error=broken)))["backend"].detail.endswith("/x")


@pytest.mark.parametrize("changes, status, text", [
    ({"commit_source": "fingerprint", "dirty": None}, "pass", "by file fingerprint"),
    ({"dirty": True}, "warn", "local changes beyond kohya-wrap's patches"),
    ({"commit": None, "at_pin": False, "commit_source": "none", "dirty": None}, "warn", "commit unknown"),
    ({"commit": "f" * 40, "at_pin": False}, "warn", "at fffffffff, kohya-wrap is tested with 48d368fa5"),
])
def test_pin_states(changes, status, text):
    check = by_name(doctor.run_checks(inputs(backend=backend(**changes))))["pin"]
    assert check.status == status and text in check.detail


def test_import_failures_and_version_drift():
    imports = dict(inputs().imports)
    imports["torchvision"] = {"ok": False, "error": "RuntimeError: operator torchvision::nms does not exist",
                              "version": None}
    checks = by_name(doctor.run_checks(inputs(imports=imports, installed={"accelerate": "1.10.0"})))
    assert checks["packages"].status == "fail"
    assert "torchvision (RuntimeError: operator torchvision::nms does not exist)" in checks["packages"].detail
    assert checks["versions"].status == "warn" and "accelerate 1.10.0 (wants 1.6.0)" in checks["versions"].detail


def patch_status(required: bool, status: str):
    patch = patches.Patch(name="0001-x.patch", file="a.py", why="w", required=required,
                          hunks=[patches.Hunk("a\n", "b\n")])
    return patches.PatchStatus(patch, status)


@pytest.mark.parametrize("required, status, expected", [
    (False, patches.NOT_APPLIED, "warn"), (True, patches.NOT_APPLIED, "fail"),
    (True, patches.ANCHOR_MISSING, "fail"), (False, patches.APPLIED, "pass"),
])
def test_patch_check(required, status, expected):
    assert by_name(doctor.run_checks(inputs(patches=[patch_status(required, status)])))["patches"].status == expected


def test_cpu_machine_warns_about_gpu_and_memory():
    facts = gb10(arch="x86_64", torch="2.13.0+cpu", cuda_available=False, gpu_name=None, compute_capability=None,
                 gpu_memory_gb=None, unified_memory=None, system_memory_gb=23.5, nvidia_driver=False)
    checks = by_name(doctor.run_checks(inputs(facts=facts)))
    assert checks["gpu"].status == "warn" and "training runs on the CPU" in checks["gpu"].detail
    assert checks["memory"].status == "warn" and "21.6 GB" in checks["memory"].detail


def test_small_gpu_warns():
    checks = by_name(doctor.run_checks(inputs(facts=gb10(arch="x86_64", unified_memory=False, gpu_memory_gb=8.0))))
    assert checks["memory"].status == "warn"


def test_tokenizers_disk_and_unprobed_python():
    checks = doctor.run_checks(inputs(tokenizers_ready=False, free_gb={"/a": 1.5, "/b": 8.0}, facts=None,
                                      facts_error="The platform probe failed"))
    statuses = [(c.name, c.status) for c in checks]
    assert ("python", "fail") in statuses and ("tokenizers", "warn") in statuses
    assert [c.status for c in checks if c.name == "disk"] == ["fail", "warn"]
    assert doctor.summary_counts(checks)["fail"] == 2


def test_requirement_pins_parse_extras_and_skip_unpinned():
    text = "accelerate==1.6.0\ndiffusers[torch]==0.32.1\nbitsandbytes\n# x==1\n-e .\nrich==14.1.0  # c\n"
    assert doctor.requirement_pins(text) == {"accelerate": "1.6.0", "diffusers": "0.32.1", "rich": "14.1.0"}


COMMANDS = [("backend",), ("backend", "install"), ("backend", "use"), ("backend", "info"),
            ("backend", "tokenizers"), ("backend", "patches"), ("doctor",)]


@pytest.mark.parametrize("words", COMMANDS)
def test_every_command_has_help_with_an_example(cli, words):
    result = cli(*words, "-h")
    assert result.exit_code == 0 and "Example:" in result.output


def test_info_without_backend_is_a_clean_error(cli):
    result = cli("backend", "info")
    assert result.exit_code == 2
    assert result.output.startswith("Error: No sd-scripts backend is configured") and "hint:" in result.output


def test_use_registers_a_checkout_and_rejects_a_wrong_folder(cli, tmp_path):
    assert cli("backend", "use", tmp_path).exit_code == 2
    (tmp_path / "sdxl_train_network.py").write_text("")
    result = cli("backend", "use", tmp_path, "--python", "/venv/bin/python", "--commit", PIN, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["root"], data["python"], data["commit"], data["commit_source"]) == (
        str(tmp_path.resolve()), "/venv/bin/python", PIN, "marker")


def test_use_warns_when_the_environment_overrides_it(cli, tmp_path, monkeypatch):
    for name in ("registered", "env"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sdxl_train_network.py").write_text("")
    monkeypatch.setenv("KOHYA_WRAP_SD_SCRIPTS", str(tmp_path / "env"))
    result = cli("backend", "use", tmp_path / "registered")
    assert result.exit_code == 0
    assert f"KOHYA_WRAP_SD_SCRIPTS={tmp_path / 'env'} overrides this registration" in result.output


def test_patches_check_fails_on_a_tree_without_the_anchors(cli, tmp_path):
    (tmp_path / "sdxl_train_network.py").write_text("")
    cli("backend", "use", tmp_path)
    result = cli("backend", "patches", "--check")
    assert result.exit_code == 2 and "do not fit this sd-scripts checkout" in result.output


def test_tokenizers_command(cli, tmp_path):
    from samples import FIXTURES

    vocab = FIXTURES / "clip-tokenizers" / "bpe_simple_vocab_16e6.txt.gz"
    result = cli("backend", "tokenizers", "--dir", tmp_path / "tok", "--vocab", vocab, "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)["sources"]) == {"openai_clip-vit-large-patch14",
                                                         "laion_CLIP-ViT-bigG-14-laion2B-39B-b160k"}


def test_doctor_json_without_backend_exits_1(cli):
    result = cli("doctor", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["checks"][0] == {"name": "backend", "status": "fail", "detail": "no sd-scripts checkout is configured",
                                 "hint": data["checks"][0]["hint"]}
    assert data["platform"]["arch"] and data["smoke"] is None


def test_backend_modules_import_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, kohya_wrap.cli.backend, kohya_wrap.cli.doctor\n"
            "from kohya_wrap.backend import doctor, install, locate, patches, pin, platform, smoke, tokenizers\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'transformers', 'diffusers', 'PIL', 'numpy', 'open_clip', 'accelerate')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

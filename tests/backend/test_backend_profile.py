"""Platform profile: injected facts for the machines we support give the right substitutions and messages."""

from __future__ import annotations

import json

import pytest

from kohya_wrap.backend.platform import Facts, Substitution, apply_profile
from kohya_wrap.errors import BackendError

from samples import gb10, x86_cuda

TYPICAL = {"xformers": True, "optimizer_type": "AdamW8bit", "mixed_precision": "bf16", "network_dim": 16}


def by_key(subs: list[Substitution]) -> dict[str, Substitution]:
    return {sub.key: sub for sub in subs}


def test_x86_cuda_with_everything_changes_nothing():
    args, subs = apply_profile(x86_cuda(), {**TYPICAL, "fp8_base": True, "torch_compile": True})
    assert subs == []
    assert args == {**TYPICAL, "fp8_base": True, "torch_compile": True}


def test_input_args_are_not_mutated():
    original = dict(TYPICAL)
    apply_profile(gb10(), original)
    assert original == TYPICAL


def test_gb10_aarch64_cuda_swaps_xformers_and_8bit_but_keeps_bf16_and_fp8():
    args, subs = apply_profile(gb10(), {**TYPICAL, "fp8_base": True})
    keys = by_key(subs)
    assert set(keys) == {"attention", "optimizer_type"}
    assert keys["attention"].line() == ("attention: xformers -> sdpa (xformers has no aarch64 build; "
                                        "sdpa is PyTorch's built-in attention)")
    assert args["sdpa"] is True and "xformers" not in args
    assert args["optimizer_type"] == "AdamW"
    assert args["mixed_precision"] == "bf16"
    assert args["fp8_base"] is True  # sm_121 >= 8.9


def test_aarch64_drops_xformers_even_if_it_imports():
    _, subs = apply_profile(gb10(xformers="0.0.30", bitsandbytes="0.48.1", bitsandbytes_usable=True), TYPICAL)
    assert [sub.key for sub in subs] == ["attention"]


def test_gb10_facts_summary_says_unified_memory_and_sm_121():
    text = "\n".join(gb10().summary_lines())
    assert "GPU NVIDIA GB10 x1, sm_121, 119.7 GiB unified with the CPU, bf16 yes" in text
    assert "xformers no, bitsandbytes no" in text


def test_aarch64_cpu_only_torch_on_a_gpu_machine_explains_the_fix():
    facts = gb10(torch="2.9.0", torch_cuda=None, cuda_available=False, gpu_name=None, gpu_count=0,
                 compute_capability=None, gpu_memory_gb=None, unified_memory=None)
    args, subs = apply_profile(facts, {**TYPICAL, "fp8_base": True})
    keys = by_key(subs)
    assert list(keys) == ["device", "attention", "optimizer_type", "fp8_base"]
    device = keys["device"].line()
    assert device.startswith("device: cuda -> cpu (torch 2.9.0 is a CPU-only build although an NVIDIA driver is present")
    assert "aarch64 torch is CPU-only" in device and "kohya-wrap backend install --dry-run" in device
    assert keys["fp8_base"].reason.endswith("this machine has no CUDA GPU")
    assert "fp8_base" not in args


def test_no_gpu_at_all_runs_on_cpu_and_keeps_bf16():
    facts = Facts(arch="x86_64", os="Linux", python="/tmp/sdenv/bin/python", torch="2.13.0+cpu",
                  cuda_available=False, bf16_supported=True, system_memory_gb=23.5)
    args, subs = apply_profile(facts, {**TYPICAL, "torch_compile": True})
    lines = [sub.line() for sub in subs]
    assert lines == [
        "device: cuda -> cpu (torch 2.13.0+cpu sees no CUDA GPU; training runs on the CPU, far slower)",
        "attention: xformers -> sdpa (xformers is not installed in /tmp/sdenv/bin/python; using PyTorch's sdpa)",
        "optimizer_type: AdamW8bit -> AdamW (bitsandbytes is not installed; the 32-bit optimizer uses more "
        "memory for optimizer state)",
        "torch_compile: on -> off (triton is not installed; torch.compile needs it)",
    ]
    assert args["mixed_precision"] == "bf16"


def test_missing_torch_says_training_cannot_start():
    _, subs = apply_profile(Facts(arch="x86_64", os="Linux", python="/usr/bin/python3"), {})
    assert subs[0].reason == "torch is not importable in /usr/bin/python3; training cannot start"


def test_missing_xformers_on_x86_cuda_only_swaps_attention():
    args, subs = apply_profile(x86_cuda(xformers=None), TYPICAL)
    assert [sub.line() for sub in subs] == [
        "attention: xformers -> sdpa (xformers is not installed in /venv/bin/python; using PyTorch's sdpa)"]
    assert args == {"optimizer_type": "AdamW8bit", "mixed_precision": "bf16", "network_dim": 16, "sdpa": True}


@pytest.mark.parametrize("name, expected", [
    ("AdamW8bit", "AdamW"), ("PagedAdamW8bit", "AdamW"), ("PagedAdamW", "AdamW"), ("PagedAdamW32bit", "AdamW"),
    ("Lion8bit", "Lion"), ("PagedLion8bit", "Lion"), ("SGDNesterov8bit", "SGDNesterov"),
    ("adamw8bit", "AdamW"), ("bitsandbytes.optim.PagedLion8bit", "Lion"),
])
def test_missing_bitsandbytes_swaps_each_8bit_optimizer(name, expected):
    args, subs = apply_profile(x86_cuda(bitsandbytes=None, bitsandbytes_usable=False), {"optimizer_type": name})
    assert args["optimizer_type"] == expected
    assert subs == [Substitution("optimizer_type", name, expected, "bitsandbytes is not installed; the 32-bit "
                                 "optimizer uses more memory for optimizer state")]


def test_missing_bitsandbytes_leaves_other_optimizers_alone():
    for name in ("AdamW", "Lion", "Prodigy", "Adafactor"):
        assert apply_profile(x86_cuda(bitsandbytes=None, bitsandbytes_usable=False), {"optimizer_type": name})[1] == []


def test_use_8bit_adam_flag_becomes_adamw():
    args, subs = apply_profile(x86_cuda(bitsandbytes=None, bitsandbytes_usable=False), {"use_8bit_adam": True})
    assert args == {"optimizer_type": "AdamW"}
    assert subs[0].line() == "use_8bit_adam: on -> optimizer_type=AdamW (bitsandbytes is not installed)"


def test_unusable_bitsandbytes_reports_its_error():
    facts = x86_cuda(bitsandbytes_usable=False, import_errors={"bitsandbytes": "RuntimeError: no kernel image"})
    _, subs = apply_profile(facts, {"optimizer_type": "AdamW8bit"})
    assert subs[0].reason.startswith("bitsandbytes 0.46.0 does not work here (RuntimeError: no kernel image)")


def test_unknown_bitsandbytes_optimizer_is_refused_with_a_hint():
    with pytest.raises(BackendError) as caught:
        apply_profile(x86_cuda(bitsandbytes=None, bitsandbytes_usable=False),
                      {"optimizer_type": "bitsandbytes.optim.AdEMAMix8bit"})
    assert "needs bitsandbytes" in caught.value.message and "AdamW" in caught.value.hint


def test_turing_gpu_gets_fp16_with_no_half_vae_and_no_fp8():
    facts = x86_cuda(gpu_name="Tesla T4", compute_capability="7.5", bf16_supported=False)
    args, subs = apply_profile(facts, {"mixed_precision": "bf16", "full_bf16": True, "fp8_base": True,
                                       "fp8_base_unet": True})
    assert args == {"mixed_precision": "fp16", "no_half_vae": True, "full_fp16": True}
    assert [sub.line() for sub in subs] == [
        "mixed_precision: bf16 -> fp16 (Tesla T4 (sm_75) has no bf16; no_half_vae set so the SDXL VAE does not "
        "overflow in fp16)",
        "full_bf16: on -> full_fp16 (Tesla T4 (sm_75) has no bf16)",
        "fp8_base: on -> off (fp8 needs compute capability 8.9 or newer; this machine has compute capability 7.5)",
        "fp8_base_unet: on -> off (fp8 needs compute capability 8.9 or newer; this machine has compute capability 7.5)",
    ]


def test_ampere_keeps_bf16_but_loses_fp8():
    args, subs = apply_profile(x86_cuda(compute_capability="8.6"), {"mixed_precision": "bf16", "fp8_base": True})
    assert args == {"mixed_precision": "bf16"}
    assert [sub.key for sub in subs] == ["fp8_base"]


def test_facts_round_trip_through_json_for_command_json():
    facts = gb10(import_errors={"torchvision": "RuntimeError: operator torchvision::nms does not exist"})
    data = json.loads(json.dumps(facts.to_dict()))
    assert Facts.from_dict({**data, "from_a_newer_version": 1}) == facts
    assert facts.capability == (12, 1)


def test_substitution_to_dict_carries_the_line():
    sub = Substitution("torch_compile", True, False, "triton is not installed; torch.compile needs it")
    assert sub.to_dict()["line"] == "torch_compile: on -> off (triton is not installed; torch.compile needs it)"

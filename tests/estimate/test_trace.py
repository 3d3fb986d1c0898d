"""Trace specs, the cache by config hash, the child runner, and the fallback when there is no backend."""

from __future__ import annotations

import json
import sys
import textwrap
from types import SimpleNamespace

import pytest

from kohya_wrap.estimate import trace
from kohya_wrap.estimate.facts import TrainFacts

FACTS = TrainFacts(mixed_precision="bf16", attention="sdpa", gradient_checkpointing=True, cache_latents=True,
                   cache_text_encoder_outputs=True, train_text_encoder=False, network_dim=4, width=256, height=256)
RESULT = {"ok": True, "peak_bytes": 7e9, "resident_bytes": 5e9, "after_backward_bytes": 5.1e9, "grad_bytes": 1e8,
          "flops": 1e12, "forward_flops": 3e11, "trainable_params": 10_000_000, "weights_bytes": {"unet": 5e9},
          "seconds": 1.5}


def test_spec_says_what_sits_on_the_gpu_and_in_which_dtype():
    spec = trace.trace_spec(FACTS)
    assert spec["compute"] == "bf16" and spec["unet_dtype"] == "bf16" and spec["lora_dtype"] == "fp32"
    assert not spec["text_encoders_on_gpu"] and not spec["vae_on_gpu"] and spec["attention"] == "sdpa"
    full = trace.trace_spec(FACTS.with_changes(cache_latents=False, cache_text_encoder_outputs=False,
                                               train_text_encoder=True, no_half_vae=True, fp8_base=True))
    assert full["text_encoders_on_gpu"] and full["vae_on_gpu"] and full["train_text_encoder"]
    assert (full["unet_dtype"], full["te_dtype"], full["vae_dtype"]) == ("fp8", "fp8", "fp32")
    assert trace.trace_spec(FACTS.with_changes(mixed_precision="no"))["compute"] is None


@pytest.fixture
def fake_child(monkeypatch):
    calls = []

    def run_child(python, root, specs, on_event=None):
        calls.append(specs)
        return {"torch": "test", "results": [dict(RESULT, peak_bytes=RESULT["peak_bytes"] + s["batch"]) for s in specs]}

    monkeypatch.setattr(trace, "run_child", run_child)
    return calls


def test_results_are_cached_by_config_hash(fake_child, tmp_path):
    first = trace.trace_profiles([FACTS], "python", tmp_path, "abc")
    again = trace.trace_profiles([FACTS], "python", tmp_path, "abc")
    assert len(fake_child) == 1 and first[0].basis == "traced" and again[0].basis == "traced (cached)"
    assert again[0].peak_bytes == first[0].peak_bytes
    assert len(list(trace.cache_dir().glob("*.json"))) == 1


def test_only_uncached_configs_go_to_the_child_in_one_run(fake_child, tmp_path):
    trace.trace_profiles([FACTS], "python", tmp_path, "abc")
    mixed = trace.trace_profiles([FACTS, FACTS.with_changes(batch=2), FACTS.with_changes(batch=2)], "python",
                                 tmp_path, "abc")
    assert [len(specs) for specs in fake_child] == [1, 1] and fake_child[1][0]["batch"] == 2
    assert mixed[1].peak_bytes == RESULT["peak_bytes"] + 2


def test_optimizer_changes_do_not_need_a_new_trace_but_a_new_backend_commit_does(fake_child, tmp_path):
    trace.trace_profiles([FACTS], "python", tmp_path, "abc")
    trace.trace_profiles([FACTS.with_changes(optimizer="AdamW")], "python", tmp_path, "abc")
    assert len(fake_child) == 1
    trace.trace_profiles([FACTS], "python", tmp_path, "def")
    assert len(fake_child) == 2


def test_a_failed_trace_is_returned_as_its_error_and_not_cached(monkeypatch, tmp_path):
    monkeypatch.setattr(trace, "run_child", lambda *a, **k: {"results": [{"ok": False, "error": "boom"}]})
    assert trace.trace_profiles([FACTS], "python", tmp_path, "abc") == ["boom"]
    assert not list(trace.cache_dir().glob("*.json"))


def test_no_backend_means_analytic_profiles_and_a_plain_notice(monkeypatch):
    monkeypatch.delenv("KOHYA_WRAP_SD_SCRIPTS", raising=False)
    profiles, notices = trace.step_profiles([FACTS])
    assert profiles[0].basis == trace.NO_BACKEND
    assert "no sd-scripts backend is configured" in notices[0]


def test_a_child_that_cannot_run_falls_back_to_analytic_and_says_why(monkeypatch):
    backend = SimpleNamespace(python="python", root="/nowhere", commit=None)
    monkeypatch.setattr("kohya_wrap.backend.locate.find_backend", lambda: backend)

    def broken(*args, **kwargs):
        raise trace.TraceFailed("The trace child failed (exit 1): ImportError: torch")

    monkeypatch.setattr(trace, "run_child", broken)
    profiles, notices = trace.step_profiles([FACTS])
    assert profiles[0].basis.startswith("analytic (trace failed") and "ImportError" in notices[0]


def _child_script(tmp_path, body: str):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    return script


def test_run_child_passes_events_and_reads_the_result(monkeypatch, tmp_path):
    script = _child_script(tmp_path, """
        import json, sys
        specs = json.load(open(sys.argv[2]))
        sys.stderr.write(json.dumps({"type": "phase", "name": "step"}) + "\\n")
        sys.stderr.write("a library's own warning\\n")
        print(json.dumps({"results": [{"ok": True, "root": sys.argv[1], "n": len(specs)}]}))
    """)
    monkeypatch.setattr(trace, "CHILD", script)
    events = []
    output = trace.run_child(sys.executable, tmp_path, [{"a": 1}, {"b": 2}], events.append)
    assert output["results"][0] == {"ok": True, "root": str(tmp_path), "n": 2}
    assert events == [{"type": "phase", "name": "step"}]


def test_run_child_failure_carries_the_childs_last_words(monkeypatch, tmp_path):
    monkeypatch.setattr(trace, "CHILD", _child_script(tmp_path, "import sys; sys.exit('no module named library')"))
    with pytest.raises(trace.TraceFailed, match="no module named library"):
        trace.run_child(sys.executable, tmp_path, [{}])
    monkeypatch.setattr(trace, "CHILD", _child_script(tmp_path, "pass"))
    with pytest.raises(trace.TraceFailed, match="no result"):
        trace.run_child(sys.executable, tmp_path, [{}])
    with pytest.raises(trace.TraceFailed, match="Cannot start"):
        trace.run_child(str(tmp_path / "missing-python"), tmp_path, [{}])


def test_cached_file_holds_the_child_result(fake_child, tmp_path):
    trace.trace_profiles([FACTS], "python", tmp_path, "abc")
    stored = json.loads(next(trace.cache_dir().glob("*.json")).read_text())
    assert stored["peak_bytes"] == RESULT["peak_bytes"] + 1 and stored["torch"] == "test"

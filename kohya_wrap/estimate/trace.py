"""Trace training steps in the backend's Python (child process), cached by config hash under the cache folder."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import BackendError, KohyaWrapError
from kohya_wrap.estimate import memory
from kohya_wrap.estimate.facts import TrainFacts
from kohya_wrap.fileio import write_json_atomic

CHILD = Path(__file__).with_name("_trace_child.py")
TIMEOUT_S = 600
NO_BACKEND = memory.ANALYTIC


class TraceFailed(KohyaWrapError):
    """The trace child could not run or did not return a result."""


def trace_spec(facts: TrainFacts) -> dict:
    """What the child needs to build and run one step: sizes, dtypes, attention, network, what sits on the GPU."""
    return {
        "width": facts.width, "height": facts.height, "batch": facts.batch,
        "compute": None if facts.weight_dtype == "fp32" else facts.weight_dtype,
        "unet_dtype": memory.unet_dtype(facts), "lora_dtype": facts.lora_dtype,
        "te_dtype": memory.text_encoder_dtype(facts), "vae_dtype": memory.vae_dtype(facts),
        "attention": facts.attention, "gradient_checkpointing": facts.gradient_checkpointing,
        "network_module": facts.network_module, "network_dim": facts.network_dim,
        "network_alpha": facts.network_alpha, "network_args": dict(facts.network_args),
        "train_text_encoder": facts.train_text_encoder,
        "text_encoders_on_gpu": memory.text_encoders_on_gpu(facts), "vae_on_gpu": not facts.cache_latents,
        "token_chunks": facts.token_chunks,
    }


def cache_key(spec: dict, backend_commit: str | None) -> str:
    child = hashlib.sha256(CHILD.read_bytes()).hexdigest()[:12]
    text = json.dumps({"spec": spec, "child": child, "backend": backend_commit}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_dir() -> Path:
    return paths.cache_dir() / "estimate"


def _cached(key: str) -> dict | None:
    path = cache_dir() / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # absent or half-written: trace again


def run_child(python: str, root: Path, specs: list[dict], on_event: Callable[[dict], None] | None = None) -> dict:
    """Run _trace_child.py on SPECS with the backend's python; its parsed JSON result."""
    with tempfile.TemporaryDirectory(prefix="kw-trace-") as folder:
        spec_file = Path(folder) / "specs.json"
        spec_file.write_text(json.dumps(specs), encoding="utf-8")
        argv = [python, str(CHILD), str(root), str(spec_file)]
        try:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as error:
            raise TraceFailed(f"Cannot start the backend python {python}: {error}",
                              hint="check `kohya-wrap backend info`") from None
        stderr_tail = _follow_stderr(process, on_event)
        try:
            stdout, _ = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            raise TraceFailed(f"The trace did not finish in {TIMEOUT_S} s") from None
    if process.returncode != 0:
        raise TraceFailed(f"The trace child failed (exit {process.returncode}): {' '.join(stderr_tail[-3:])}",
                          hint="run `kohya-wrap doctor` to check the backend's packages")
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise TraceFailed("The trace child printed no result", hint=" ".join(stderr_tail[-3:])) from None


def _follow_stderr(process, on_event) -> list[str]:
    tail: list[str] = []
    for line in process.stderr:
        line = line.strip()
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if isinstance(event, dict) and "type" in event:
            if on_event:
                on_event(event)
        elif line:
            tail = (tail + [line])[-20:]
    return tail


def trace_profiles(facts_list: Iterable[TrainFacts], python: str, root: Path, commit: str | None,
                   on_event: Callable[[dict], None] | None = None) -> list[memory.StepProfile | str]:
    """A StepProfile per config (from the cache or one child run for the rest), or the trace's error text."""
    specs = [trace_spec(facts) for facts in facts_list]
    keys = [cache_key(spec, commit) for spec in specs]
    found = {key: _cached(key) for key in keys}
    missing = list(dict.fromkeys(key for key in keys if found[key] is None))
    if missing:
        if on_event:
            on_event({"type": "tracing", "count": len(missing), "t": time.time()})
        todo = [specs[keys.index(key)] for key in missing]
        output = run_child(python, root, todo, on_event)
        for key, result in zip(missing, output["results"]):
            if result.get("ok"):
                write_json_atomic(cache_dir() / f"{key}.json", {**result, "torch": output.get("torch")})
            found[key] = result
    return [_profile(found[key], fresh=key in missing) for key in keys]


def _profile(result: dict, fresh: bool) -> memory.StepProfile | str:
    if not result.get("ok"):
        return result.get("error", "unknown error")
    return memory.StepProfile.from_trace(result, basis="traced" if fresh else "traced (cached)")


def step_profiles(facts_list: list[TrainFacts], on_event: Callable[[dict], None] | None = None,
                  allow_trace: bool = True) -> tuple[list[memory.StepProfile], list[str]]:
    """Traced profiles when a backend is configured, else analytic ones; notices say which and why."""
    from kohya_wrap.backend.locate import find_backend

    if not allow_trace:
        return [memory.analytic_profile(f) for f in facts_list], ["trace skipped (--analytic): analytic estimate"]
    try:
        backend = find_backend()
    except BackendError as error:
        return [memory.analytic_profile(f) for f in facts_list], [f"backend unusable ({error.message}): {NO_BACKEND}"]
    if backend is None:
        return ([memory.analytic_profile(f) for f in facts_list],
                ["no sd-scripts backend is configured, so nothing was traced: activations and FLOPs are an "
                 "analytic estimate (`kohya-wrap backend install` enables the trace)"])
    try:
        results = trace_profiles(facts_list, backend.python, backend.root, backend.commit, on_event)
    except TraceFailed as error:
        reason = error.render().replace("\n", " ")
        return [_fallback(f, reason) for f in facts_list], [f"the trace could not run ({reason}): analytic estimate"]
    profiles, notices = [], []
    for facts, result in zip(facts_list, results):
        if isinstance(result, str):
            notices.append(f"the trace failed for {facts.width}x{facts.height} batch {facts.batch}: {result}")
            profiles.append(_fallback(facts, result))
        else:
            profiles.append(result)
    return profiles, notices


def _fallback(facts: TrainFacts, reason: str) -> memory.StepProfile:
    profile = memory.analytic_profile(facts)
    profile.basis = f"analytic (trace failed: {reason})"
    return profile

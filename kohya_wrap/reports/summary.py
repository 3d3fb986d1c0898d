"""summary.json: a job's final state built from its folder (events, TensorBoard, outputs), written atomically."""

from __future__ import annotations

import time
from pathlib import Path

from kohya_wrap.fileio import write_json_atomic
from kohya_wrap.job.folder import read_args
from kohya_wrap.reports import inputs, metrics, timing
from kohya_wrap.artifacts.lora import LoraFileError, inspect_lora
from kohya_wrap.logs.tail import log_tail

SCHEMA_VERSION = 1


def output_entries(job_dir: Path, events: list[dict]) -> list[dict]:
    """The run's output files, each inspected (sha256, header, NaN/Inf; memoised per file): summary's outputs."""
    args = read_args(job_dir)
    finals = {Path(e["path"]).name for e in events if e.get("type") == "saved" and e.get("final") and e.get("path")}
    return [_output_entry(path, job_dir, args.get("output_name"), path.name in finals)
            for path in inputs.output_files(job_dir, events)]


def build_summary(job_dir: Path, events: list[dict] | None = None, outcome: dict | None = None, *,
                  tensorboard: Path | None = None, scalars: list[dict] | None = None,
                  extra_sample_dirs: list[Path] = ()) -> dict:
    """Everything summary.json holds. Events default to <job>/events.jsonl, TensorBoard to <job>/logs."""
    job_dir = Path(job_dir)
    events = inputs.read_events(job_dir) if events is None else [inputs.as_dict(e) for e in events]
    problem = None
    if scalars is None:
        scalars, problem = inputs.read_scalars(tensorboard if tensorboard is not None else job_dir / "logs")
    scalars = metrics.global_steps(scalars, events)
    groups = metrics.by_tag(scalars)
    outputs = output_entries(job_dir, events)
    steps = _steps(events, groups)
    outcome = checked_outcome(outcome if outcome is not None else decide(events, outputs), outputs)
    rows = timing.step_times(events, groups)
    phases = timing.phases(events, groups)
    samples = inputs.sample_files(job_dir, events, list(extra_sample_dirs))
    return {
        "schema": SCHEMA_VERSION,
        "job": job_dir.name,
        "status": outcome.get("status", "unknown"),
        "cause": outcome.get("cause"),
        "outcome": outcome,
        "error": _last(events, "error"),
        "limit": _last(events, "limit"),
        "exit": _exit(events),
        "steps": steps,
        "epochs": _epochs(events),
        "loss": metrics.loss_from_scalars(groups) or metrics.loss_from_events(events),
        "speed": timing.speed(rows),
        "phases": phases,
        "cost": cost(job_dir, events),
        "started_at": _time(events, first=True),
        "ended_at": _time(events, first=False),
        "outputs": outputs,
        "good_outputs": [o["path"] for o in outputs if o.get("good")],
        "nonfinite_outputs": [o["path"] for o in outputs if o.get("nonfinite_tensors")],
        "samples": [_relative(p, job_dir) for p in samples],
        "warnings": sum(1 for e in events if e.get("type") == "warning"),
        "log_tail": log_tail(job_dir / "train.log"),  # the last 30 lines, colours and bar redraws cleaned
        "events": len(events),
        "tensorboard_points": len(scalars),
        "tensorboard_problem": problem,
        "generated_at": time.time(),
    }


def write_summary(job_dir: Path, summary: dict) -> Path:
    path = Path(job_dir) / "summary.json"
    write_json_atomic(path, summary)
    return path


def _relative(path: Path, job_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(job_dir).resolve()))
    except ValueError:
        return str(path)


def _output_entry(path: Path, job_dir: Path, output_name: str | None, logged_final: bool) -> dict:
    entry = {"path": _relative(path, job_dir), "exists": path.is_file()}
    entry["final"] = path.name == f"{output_name}.safetensors" if output_name else logged_final
    if not path.is_file():
        return {**entry, "good": False, "error": "file named in the log does not exist (moved or never written)"}
    try:
        info = inspect_lora(path)
    except LoraFileError as error:
        return {**entry, "bytes": path.stat().st_size, "good": False, "error": error.message}
    data = info.to_dict()
    data.pop("path")
    if not output_name and not logged_final:
        entry["final"] = info.metadata.get("ss_output_name") == path.stem
    return {**entry, **data}


def _steps(events: list[dict], groups: dict) -> dict:
    step_events = [e for e in events if e.get("type") == "step" and e.get("step") is not None]
    done = max((e["step"] for e in step_events), default=None)
    total = next((e["total"] for e in reversed(step_events) if e.get("total")), None)
    if total is None:
        total = next((e.get("steps") for e in events if e.get("type") == "config" and e.get("steps")), None)
    tb_steps = [p["step"] for p in groups.get(metrics.LOSS_TAG, [])]
    if done is None and tb_steps:
        done = max(tb_steps)
    return {"done": done, "total": total}


def _epochs(events: list[dict]) -> dict:
    epochs = [e for e in events if e.get("type") == "epoch" and e.get("epoch") is not None]
    total = next((e.get("total") for e in reversed(epochs) if e.get("total")), None)
    if total is None:
        total = next((e.get("epochs") for e in events if e.get("type") == "config" and e.get("epochs")), None)
    return {"done": max((e["epoch"] for e in epochs), default=None), "total": total}


def _last(events: list[dict], kind: str) -> dict | None:
    return next((e for e in reversed(events) if e.get("type") == kind), None)


def _exit(events: list[dict]) -> dict | None:
    exited = _last(events, "exited")
    if exited is None:
        return None
    return {key: exited.get(key) for key in ("code", "signal", "cause")}


def _time(events: list[dict], first: bool) -> float | None:
    times = [e["t"] for e in events if e.get("t") is not None]
    if not times:
        return None
    return times[0] if first else times[-1]


def decide(events: list[dict], outputs: list[dict]) -> dict:
    """The outcome when the caller gives none (a log replayed later, a report re-made without summary.json):
    the shared rules of logs.outcome, fed from this folder. The exit status is the `exited` event's, if any."""
    from kohya_wrap.job.outcome import decide_outcome

    exited = _last(events, "exited")
    started = _last(events, "started")
    if exited is None and started is not None:
        return still_running(started)
    final_exists = any(o.get("final") and o.get("exists") for o in outputs)
    # A replayed log (no `exited` event) may come from another machine: a final LoRA it says was saved but
    # that is not here is taken as saved, and the summary says it was not checked.
    unchecked = [o["path"] for o in outputs if o.get("final") and not o.get("exists")] if exited is None else []
    decided = decide_outcome(
        events,
        final_output_exists=final_exists or bool(unchecked),
        exit_code=(exited or {}).get("code"),
        signal=(exited or {}).get("signal"),
        nonfinite_outputs=[Path(o["path"]).name for o in outputs if o.get("nonfinite_tensors")],
    )
    outcome = {**decided.to_dict(), "exit_code": (exited or {}).get("code"), "signal": (exited or {}).get("signal")}
    if unchecked and not final_exists:
        outcome["note"] = f"final LoRA {unchecked[0]} is not on this machine: its weights were not checked"
    return outcome


def still_running(started: dict) -> dict:
    """A launch with no `exited` event: running, unless its trainer is gone on this machine (the wrapper died)."""
    import os
    import socket

    pid = started.get("pid")
    if pid and started.get("host") == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return {"status": "failed", "cause": "no_exit_recorded",
                    "message": f"the trainer (pid {pid}) is gone but kohya-wrap recorded no exit",
                    "hint": "kohya-wrap itself was stopped during the run; read train.log, or resume the job"}
        except PermissionError:
            pass  # it exists, owned by someone else
    return {"status": "running", "cause": None, "message": "no exit recorded yet: the run is in progress", "hint": None}


def cost(job_dir: Path, events: list[dict]) -> dict | None:
    """What the run cost, launch to exit, at the job's one rate (job.cost)."""
    from kohya_wrap.job import cost as job_cost
    from kohya_wrap.job.folder import COMMAND, JOB_TOML, JobFolder, read_json, read_toml
    from kohya_wrap.job.meta import read_meta

    job_dir = Path(job_dir)
    folder = JobFolder(path=job_dir, config=read_toml(job_dir / JOB_TOML), command=read_json(job_dir / COMMAND),
                       meta=read_meta(job_dir))
    return job_cost.cost_record(job_cost.job_rate(folder), job_cost.billed_seconds(events))


def checked_outcome(outcome: dict, outputs: list[dict]) -> dict:
    """A file with NaN/Inf weights never counts as a good output, whatever the caller decided."""
    bad_final = [o["path"] for o in outputs if o.get("final") and o.get("nonfinite_tensors")]
    if outcome.get("status") != "succeeded" or not bad_final:
        return outcome
    return {**outcome, "status": "failed", "cause": "nonfinite_output",
            "message": "saved LoRA holds NaN/Inf weights: " + ", ".join(bad_final),
            "hint": outcome.get("hint") or _nan_hint()}


def _nan_hint() -> str:
    from kohya_wrap.job.causes import hint

    return hint("nonfinite_output")

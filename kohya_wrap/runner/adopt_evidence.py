"""The evidence of a past run read back: its files hashed, its events (from the log, else rebuilt), its outcome."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from kohya_wrap.artifacts.lora import inspect_output
from kohya_wrap.artifacts.resolve import is_final
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers import past_evidence as evidence
from kohya_wrap.importers.past_run import RunFolder
from kohya_wrap.job.events import Event, make_event
from kohya_wrap.job.outcome import Outcome, decide_outcome, replace
from kohya_wrap.registry.models import header_copy_info

Progress = Callable[[int, int], None]
# Event types that only sd-scripts' output produces: a *.log with none of them is not a trainer's log.
TRAINER_EVENTS = {"phase", "config", "epoch", "step", "saved", "sample", "resumed", "error"}
CHUNK = 1 << 20


def unreadable(path: Path, error: OSError) -> KohyaWrapError:
    return KohyaWrapError(f"Cannot read {path}: {error.strerror or error}.",
                          hint="kohya-wrap only reads a past run's files (it never writes there): give it read access; "
                               "nothing was imported from this folder")


def stat_key(path: Path) -> tuple[int, int, int]:
    """Size, mtime and ctime in ns: a file whose three are unchanged is taken as unchanged (ctime cannot be set
    back by hand, so a rewrite that keeps the mtime still shows)."""
    try:
        st = path.stat()
    except OSError as error:
        raise unreadable(path, error) from None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def file_records(files: list[tuple[Path, str]], progress: Progress | None = None) -> tuple[list[dict], dict]:
    """Every referenced file with its sha256, size and times; LoRAs are inspected on the way (one read serves the
    hash and the NaN/Inf scan). Returns (records, {LoRA path: inspection})."""
    total = sum(stat_key(path)[0] for path, _ in files)
    done, records, infos = 0, [], {}
    for path, role in files:
        before = stat_key(path)
        info = _inspect(path, role)
        if info is not None:
            infos[path] = info
        digest = (info or {}).get("sha256") or _sha256(path, lambda n, start=done: progress and progress(start + n, total))
        after = stat_key(path)
        if after != before:
            raise KohyaWrapError(f"{path} changed while it was read.",
                                 hint="is the run still going? import its folder when the run has ended")
        done += before[0]
        if progress:
            progress(done, total)
        records.append({"path": str(path), "role": role, "sha256": digest, "bytes": before[0],
                        "mtime": before[1] / 1e9, "mtime_ns": before[1], "ctime_ns": before[2]})
    return records, infos


def _inspect(path: Path, role: str) -> dict | None:
    if role == "lora_header":
        return header_copy_info(path)
    if role != "lora":
        return None
    try:
        return inspect_output(path)
    except OSError as error:
        raise unreadable(path, error) from None


def _sha256(path: Path, step: Callable[[int], None]) -> str:
    digest, read = hashlib.sha256(), 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
                read += len(block)
                step(read)
    except OSError as error:
        raise unreadable(path, error) from None
    return digest.hexdigest()


def import_key(source: Path, records: list[dict]) -> str:
    """The identity of one import: the resolved folder and each file's place in it with its sha256."""
    files = sorted((str(Path(r["path"]).relative_to(source)), r["sha256"]) for r in records)
    return hashlib.sha256(json.dumps({"source": str(source), "files": files}).encode()).hexdigest()


def tensorboard_root(run: RunFolder) -> tuple[Path | None, list[str]]:
    """The folder of this run's TensorBoard events: the newest event-file folder when the logging_dir holds the
    runs of several launches (a resume writes a new one)."""
    groups: dict[Path, list[Path]] = {}
    for path in run.event_files:
        groups.setdefault(path.parent, []).append(path)
    if not groups:
        return None, []
    newest = max(groups, key=lambda folder: max(_written_at(p) for p in groups[folder]))
    others = [str(folder.relative_to(run.source)) for folder in sorted(groups) if folder != newest]
    notes = [f"TensorBoard: {newest.relative_to(run.source)} is this run's; older runs left out of the report: "
             + ", ".join(others)] if others else []
    return newest, notes


def _written_at(path: Path) -> float:
    parts = path.name.split(".")
    try:
        return float(parts[3])  # events.out.tfevents.<unix time>.<host>...
    except (IndexError, ValueError):
        return path.stat().st_mtime


def run_events(run: RunFolder, metas: dict[Path, dict], total: int | None, tb_root: Path | None) -> tuple[list, list]:
    """The run's events: parsed from its logs; without a usable log, rebuilt from TensorBoard, the LoRAs' metadata
    and the state folders (and a warning event says so). Saved files point at where they lie now."""
    from kohya_wrap.logs.parse import parse_files

    notes: list[str] = []
    if run.logs:
        try:
            events = parse_files(run.logs)
        except OSError as error:
            raise unreadable(Path(getattr(error, "filename", "") or run.source), error) from None
        if any(event.type in TRAINER_EVENTS for event in events):
            return located(events, run), notes
        notes.append(f"{', '.join(p.name for p in run.logs)}: no sd-scripts output in it, so it was not used")
        if not (run.outputs or run.event_files or run.states):
            raise KohyaWrapError(f"{run.source} is not a run folder: its logs hold no sd-scripts output.",
                                 hint="give a folder with a run's stdout/stderr logs, LoRA files or TensorBoard logs")
    return rebuilt_events(run, metas, total, tb_root, notes), notes


def located(events: list[Event], run: RunFolder) -> list[Event]:
    """`saved` events name the path the trainer wrote; the file now lies in the imported folder under that name."""
    found: dict[str, list[Path]] = {}
    for path in run.loras + run.states:
        found.setdefault(path.name, []).append(path)
    out = []
    for event in events:
        logged = Path(str(event.get("path") or ""))
        candidates = found.get(logged.name) if event.type == "saved" and event.get("path") else None
        if candidates:
            here = next((p for p in candidates if p.parent.name == logged.parent.name), candidates[0])
            event = Event(event.type, event.t, {**event.data, "path": str(here)})
        out.append(event)
    return out


def rebuilt_events(run: RunFolder, metas: dict[Path, dict], total: int | None, tb_root: Path | None,
                   notes: list[str]) -> list[Event]:
    steps = tensorboard_steps(tb_root, total, notes) if tb_root else []
    origin = "TensorBoard" if steps else "the LoRA files' ss_steps"
    saved = evidence.saved_events(metas, None) + state_events(run)
    if not steps:  # each LoRA says at which step it was saved
        seen = sorted({(e.get("step"), e.t) for e in saved if e.get("what") == "model" and (e.get("step") or 0) > 0})
        steps = [make_event("step", t, step=step, total=total) for step, t in seen]
    warning = make_event("warning", min((e.t for e in steps + saved if e.t), default=0.0), kind="reconstructed",
                         source="kohya-wrap registry import",
                         message=f"no sd-scripts log: steps come from {origin}, saves from the files found; an error "
                                 "the trainer printed cannot be known")
    notes.append(warning.get("message"))
    return [warning] + sorted(steps + saved, key=lambda e: (e.t, e.type != "step"))


def tensorboard_steps(tb_root: Path, total: int | None, notes: list[str]) -> list[Event]:
    """One step event per logged step: its last loss/current and loss/average points, lr/unet (else lr/*)."""
    from kohya_wrap.logs.tensorboard import TensorBoardError, read_scalars

    try:
        points = read_scalars(tb_root)
    except TensorBoardError as error:
        notes.append(f"TensorBoard not used: {error.message}")
        return []
    by_step: dict[int, dict] = {}
    for point in points:
        key = {"loss/current": "loss", "loss/average": "avr_loss"}.get(point.tag)
        key = key or ("lr" if point.tag.startswith("lr/") and point.tag in ("lr/unet", "lr/group0") else None)
        if key and point.step > 0:
            fields = by_step.setdefault(point.step, {"t": point.wall_time})
            fields["t"] = max(fields["t"], point.wall_time)
            if point.value == point.value and abs(point.value) != float("inf"):
                fields[key] = point.value
    return [make_event("step", fields.pop("t"), step=step, total=total, **fields)
            for step, fields in sorted(by_step.items())]


def state_events(run: RunFolder) -> list[Event]:
    events = []
    for state in run.states:
        try:
            values = json.loads((state / "train_state.json").read_text(encoding="utf-8"))
            step, epoch = int(values["current_step"]), int(values["current_epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        events.append(make_event("saved", (state / "train_state.json").stat().st_mtime, path=str(state), what="state",
                                 step=step, epoch=epoch))
    return events


def decide(events: list[Event], run: RunFolder, infos: dict[Path, dict], output_name: str | None) -> Outcome:
    """The outcome from the evidence, by the runner's one rule: the final LoRA must be here and usable."""
    finals = [p for p in run.outputs if evidence.original_name(p) == f"{output_name}.safetensors"] if output_name \
        else [p for p in run.outputs if is_final(Path(evidence.original_name(p)[:-len(".safetensors")]))]
    final = next((p for p in finals if infos.get(p, {}).get("good")), finals[0] if finals else None)
    usable = final is not None and bool(infos.get(final, {}).get("good"))
    nonfinite = [evidence.original_name(p) for p, info in infos.items() if info.get("nonfinite_tensors")]
    decided = decide_outcome(events, final_output_exists=usable, exit_code=None, signal=None,
                             nonfinite_outputs=nonfinite)
    steps = [e for e in events if e.type == "step" and e.get("step") is not None]
    done = max((e.get("step") for e in steps), default=None)
    total = next((e.get("total") for e in reversed(steps) if e.get("total")), None) or next(
        (e.get("steps") for e in reversed(events) if e.type == "config" and e.get("steps")), None)
    if decided.cause == "no_output" and final is not None:
        decided = replace(decided, message=f"trained {done}/{total} steps but the final LoRA {evidence.original_name(final)} is not usable: "
                                           f"{infos.get(final, {}).get('error') or 'it holds no tensors'}")
    return replace(decided, step=done, total=total)


def named_output(events: list[Event], metas: dict[Path, dict]) -> str | None:
    """The run's output_name when no config names it: the final save in the log, else the LoRAs' ss_output_name."""
    final = next((e for e in reversed(events) if e.type == "saved" and e.get("final") and e.get("path")), None)
    if final is not None:
        return Path(str(final.get("path"))).name.removesuffix(".safetensors")
    names = [m.get("ss_output_name") for m in metas.values() if m.get("ss_output_name")]
    return max(set(names), key=names.count) if names else None

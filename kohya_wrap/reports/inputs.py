"""Read what a report needs from a job folder: events, TensorBoard scalars, config files, outputs, samples."""

from __future__ import annotations

from pathlib import Path


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def as_dict(event) -> dict:
    """Events arrive as dicts or logs.events.Event objects; reports work on dict copies whose unknown time
    (logs.events writes t = 0) is None."""
    data = dict(event) if isinstance(event, dict) else event.to_dict()
    if not data.get("t"):
        data["t"] = None
    return data


def read_events(job_dir: Path) -> list[dict]:
    path = Path(job_dir) / "events.jsonl"
    if not path.is_file():
        return []
    from kohya_wrap.job.events import read_events_jsonl

    return [as_dict(event) for event in read_events_jsonl(path)]


def read_scalars(logdir: Path | None) -> tuple[list[dict], str | None]:
    """Every TensorBoard scalar point under logdir as {tag, step, value, wall_time, run}, and the problem when an
    event file is damaged (then no points: the report falls back to the log's values and says why).
    Steps are as sd-scripts logged them (a resumed run restarts at 0): see metrics.global_steps."""
    if logdir is None or not Path(logdir).is_dir() or not any(Path(logdir).rglob("events.out.tfevents.*")):
        return [], None
    from kohya_wrap.logs.tensorboard import TensorBoardError
    from kohya_wrap.logs.tensorboard import read_scalars as read

    try:
        points = read(Path(logdir))
    except TensorBoardError as error:
        return [], f"{error.message}; loss and speed come from the training log instead"
    return [{"tag": p.tag, "step": int(p.step), "value": float(p.value), "wall_time": float(p.wall_time),
             "run": getattr(p, "run", "")} for p in points], None


def resolve_path(job_dir: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else Path(job_dir) / path


def output_files(job_dir: Path, events: list[dict]) -> list[Path]:
    """LoRA files: <job>/output/*.safetensors plus any other .safetensors a `saved` event names, in save order."""
    found: list[Path] = []
    output = Path(job_dir) / "output"
    for event in events:
        if event.get("type") == "saved" and str(event.get("path", "")).endswith(".safetensors"):
            path = resolve_path(job_dir, event["path"])
            # a log from elsewhere names the trainer's own path; the copy in this folder is the same file
            found.append(path if path.exists() or not (output / path.name).is_file() else output / path.name)
    if output.is_dir():
        on_disk = sorted(output.glob("*.safetensors"), key=lambda p: (p.stat().st_mtime, p.name))
        found.extend(on_disk)
    return _unique(found)


def sample_files(job_dir: Path, events: list[dict], extra_dirs: list[Path] = ()) -> list[Path]:
    """Sample images: <job>/samples, sd-scripts' <output_dir>/sample, folders given, and `sample` event paths."""
    found: list[Path] = []
    for event in events:
        if event.get("type") == "sample" and event.get("path"):
            found.append(resolve_path(job_dir, event["path"]))
    folders = [Path(job_dir) / "samples", Path(job_dir) / "output" / "sample", *extra_dirs]
    for folder in folders:
        if folder.is_dir():
            found.extend(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    return sorted((p for p in _unique(found) if p.is_file()), key=lambda p: p.name)


def _unique(paths: list[Path]) -> list[Path]:
    seen, out = set(), []
    for path in paths:
        key = path.resolve() if path.exists() else path
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out

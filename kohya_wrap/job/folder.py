"""The job folder: its file names, the one reader, atomic writes, job ids and the one find(ref) rule."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kohya_wrap import paths
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.fileio import write_json_atomic, write_text_atomic

JOB_TOML = "job.toml"
DATASET_TOML = "dataset.toml"
ARGS_TOML = "args.toml"
ACCELERATE_YAML = "accelerate.yaml"
COMMAND = "command.json"
TRAIN_LOG = "train.log"
EVENTS = "events.jsonl"
SUMMARY = "summary.json"
OUTPUT = "output"
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
NAME_MAX = 100
_ID = re.compile(r"^(?P<stamp>\d{8}-\d{6})-(?P<name>.+)-[0-9a-f]{4}$")
_PRESET = re.compile(r"from preset '([^']+)'")


class JobNotFound(KohyaWrapError):
    """No job matches the reference, or several do."""


class BadName(KohyaWrapError):
    """A job or output name that breaks the one name rule."""


def name_problem(name: str) -> str | None:
    """What breaks the one rule for names (job names, output_name): letters, digits, '_', '.' and '-' only
    (so no path separators), not starting with '.' or '-', at most NAME_MAX characters. None when it is fine."""
    if not name:
        return "is empty"
    if len(name) > NAME_MAX:
        return f"is {len(name)} characters long; at most {NAME_MAX}"
    unsafe = sorted(set("".join(NAME_UNSAFE.findall(name))))
    if unsafe:
        shown = ", ".join(repr(char) for char in unsafe[:8])
        return f"holds {shown}: only letters, digits, '_', '.' and '-' are allowed"
    if name[0] in ".-":
        return f"starts with {name[0]!r}"
    return None


def clean_name(name: str) -> str:
    """A name that keeps the rule, made from any text (unsafe runs become '-')."""
    return NAME_UNSAFE.sub("-", str(name)).lstrip("-.")[:NAME_MAX].rstrip("-.") or "job"


def safe_name(name: str, what: str = "name") -> str:
    """NAME itself when it keeps the rule; else BadName saying what is wrong, with a name that would do."""
    problem = name_problem(name)
    if problem:
        raise BadName(f"{what} {str(name)[:80]!r}{'...' if len(str(name)) > 80 else ''} {problem}.",
                      hint=f"use a name such as {clean_name(name)!r}")
    return name


def new_job_id(name: str, now: float | None = None) -> str:
    """<YYYYmmdd-HHMMSS>-<name>-<4 hex>, the name cleaned to keep the name rule."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    return f"{stamp}-{clean_name(name)}-{secrets.token_hex(2)}"


def name_of(job_id: str) -> str:
    """The job name inside a job id (the id itself when it is not one of ours)."""
    match = _ID.match(job_id)
    return match.group("name") if match else job_id


@dataclass(frozen=True)
class Candidate:
    """A job that a reference may mean: its id, name and creation time (newest wins among one name)."""

    id: str
    name: str
    created: float


def pick(ref: str, candidates: Iterable[Candidate]) -> str:
    """The one rule for every command: exact id, then unique id prefix, then the newest job of that name."""
    candidates = list(candidates)
    if any(c.id == ref for c in candidates):
        return ref
    prefixed = sorted({c.id for c in candidates if c.id.startswith(ref)})
    if len(prefixed) == 1:
        return prefixed[0]
    named = sorted((c for c in candidates if c.name == ref), key=lambda c: (c.created, c.id), reverse=True)
    if named:
        return named[0].id
    if prefixed:
        raise JobNotFound(f"ambiguous: {ref!r} is the start of {len(prefixed)} job ids: "
                          + ", ".join(prefixed[:8]) + (" ..." if len(prefixed) > 8 else ""),
                          hint="give more of the job id")
    raise JobNotFound(f"No job {ref!r}.", hint="`kohya-wrap jobs ls` lists jobs; or give the job folder's path")


def is_job_folder(path: Path) -> bool:
    return (Path(path) / JOB_TOML).is_file() or (Path(path) / COMMAND).is_file()


def _looks_like_run(path: Path) -> bool:
    """A folder given by path: a job folder, or a run's folder with only its log or events."""
    return is_job_folder(path) or (Path(path) / TRAIN_LOG).is_file() or (Path(path) / EVENTS).is_file()


def _folder_candidates(root: Path) -> list[Candidate]:
    found = []
    for path in root.iterdir() if root.is_dir() else ():
        if path.is_dir() and not path.name.startswith("."):
            match = _ID.match(path.name)
            created = (time.mktime(time.strptime(match.group("stamp"), "%Y%m%d-%H%M%S"))
                       if match else path.stat().st_mtime)
            found.append(Candidate(path.name, name_of(path.name), created))
    return found


def find(ref: str | Path, runs_dir: Path | None = None) -> Path:
    """A job folder from its path, or from a reference under the runs folder (the `pick` rule)."""
    candidate = Path(ref).expanduser()
    if _looks_like_run(candidate):
        return candidate.resolve()
    root = runs_dir or paths.runs_dir()
    try:
        chosen = pick(str(ref), _folder_candidates(root))
    except JobNotFound as error:
        raise JobNotFound(f"{error.message.rstrip('.')} in {root}.", hint=error.hint) from None
    return (root / chosen).resolve()


def read_json(path: Path) -> dict:
    """A JSON object file, {} when absent."""
    return json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).is_file() else {}


def read_toml(path: Path) -> dict:
    from kohya_wrap.tomlcompat import loads

    return loads(Path(path).read_text(encoding="utf-8")) if Path(path).is_file() else {}


def read_args(job_dir: Path) -> dict:
    """sd-scripts arguments from args.toml, sections flattened the way sd-scripts does (later key wins)."""
    flat: dict = {}
    for key, value in read_toml(Path(job_dir) / ARGS_TOML).items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def output_target(job_dir: Path) -> tuple[Path, str]:
    """sd-scripts' output_dir and output_name for this job (the final LoRA is <dir>/<name>.safetensors)."""
    args = read_args(job_dir)
    return Path(args.get("output_dir") or Path(job_dir) / OUTPUT), str(args.get("output_name") or "")


def preset_of(job_toml: str) -> str | None:
    """The preset named in job.toml's opening comment (config.render writes it there)."""
    match = _PRESET.search(job_toml.split("\n", 1)[0])
    return match.group(1) if match else None


def read_events(job_dir: Path) -> list[dict]:
    """events.jsonl as dicts; a last line still being written is left out."""
    from kohya_wrap.job.events import read_events_jsonl

    path = Path(job_dir) / EVENTS
    return [event.to_dict() for event in read_events_jsonl(path)] if path.is_file() else []


@dataclass
class JobFolder:
    """Everything on disk about one job that later stages read."""

    path: Path
    config: dict = field(default_factory=dict)
    command: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    preset: str | None = None
    problems: list[str] = field(default_factory=list)  # damaged files, each with what is wrong

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def gpu_name(self) -> str | None:
        platform = self.command.get("platform") or {}
        for key in ("gpu_name", "gpu"):
            value = platform.get(key) if isinstance(platform, dict) else None
            if isinstance(value, dict):
                value = value.get("name")
            if value:
                return str(value)
        return None


def read(path: Path) -> JobFolder:
    """The one reader of a job folder. A damaged file never stops it: the folder is read with that part
    empty and the problem named in `problems`."""
    from kohya_wrap.job.meta import read_meta
    from kohya_wrap.tomlcompat import loads

    path = Path(path).resolve()
    folder = JobFolder(path=path, outputs=sorted((path / OUTPUT).glob("*.safetensors")))
    text = _part(folder, JOB_TOML, lambda: (path / JOB_TOML).read_text(encoding="utf-8")
                 if (path / JOB_TOML).is_file() else "", "")
    folder.preset = preset_of(text)
    folder.config = _part(folder, JOB_TOML, lambda: loads(text) if text else {}, {})
    folder.command = _part(folder, COMMAND, lambda: _object(read_json(path / COMMAND)), {})
    folder.events = _part(folder, EVENTS, lambda: read_events(path), [])
    folder.summary = _part(folder, SUMMARY, lambda: _object(read_json(path / SUMMARY)), {})
    folder.meta = _part(folder, "registry.json", lambda: _object(read_meta(path)), {})
    return folder


def _part(folder: JobFolder, name: str, load, empty):
    try:
        return load()
    except (ValueError, OSError, UnicodeDecodeError, KohyaWrapError) as error:
        # TOMLDecodeError and JSONDecodeError are ValueErrors; the message names the line.
        detail = getattr(error, "message", None) or str(error)
        folder.problems.append(f"{name}: {detail}")
        return empty


def _object(value):
    if not isinstance(value, dict):
        raise ValueError(f"holds a JSON {type(value).__name__}, not an object")
    return value


def write_text(job_dir: Path, name: str, text: str) -> Path:
    """Write one file of the job folder atomically."""
    target = Path(job_dir) / name
    write_text_atomic(target, text)
    return target


def write_json(job_dir: Path, name: str, value) -> Path:
    target = Path(job_dir) / name
    write_json_atomic(target, value)
    return target

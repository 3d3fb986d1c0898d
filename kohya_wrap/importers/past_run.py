"""A past sd-scripts run's folder -> the files that are its evidence: LoRAs, state folders, logs, TensorBoard, config."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job.folder import is_job_folder

LORA = ".safetensors"
HEADER_COPY = ".safetensors.header.json"  # the header of a LoRA kept without its weights
EVENT_FILE = "events.out.tfevents."
IMAGES = (".png", ".jpg", ".jpeg", ".webp")
SAMPLE_DIRS = ("sample", "samples")
CONFIGS = (".toml", ".json")
MAX_DEPTH = 6
# the stream part of a log's name (run.stdout.log, a_err.log); names that are only a stream (train.log) belong to
# the folder's one run
_STREAM = re.compile(r"(?:^|[._-])(stdout|stderr|out|err)$", re.IGNORECASE)
ONLY_STREAM = {"", "train", "training", "log", "console", "output"}


@dataclass
class RunFolder:
    """What one run's folder holds, each kind sorted; `skipped` names sub-folders left out and why."""

    source: Path
    loras: list[Path] = field(default_factory=list)
    header_copies: list[Path] = field(default_factory=list)
    states: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    event_files: list[Path] = field(default_factory=list)
    configs: list[Path] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def outputs(self) -> list[Path]:
        """LoRA files and header-only copies of LoRAs: each becomes a model version."""
        return sorted(self.loras + self.header_copies)

    def referenced(self) -> list[tuple[Path, str]]:
        """(file, role) of every file the imported job refers to; state folders count file by file."""
        found = [(p, "lora") for p in self.loras] + [(p, "lora_header") for p in self.header_copies]
        found += [(p, "state") for state in self.states for p in sorted(state.iterdir()) if p.is_file()]
        found += [(p, "log") for p in self.logs] + [(p, "tensorboard") for p in self.event_files]
        found += [(p, "config") for p in self.configs] + [(p, "sample") for p in self.samples]
        return found

    def sample_dirs(self) -> list[Path]:
        return sorted({p.parent for p in self.samples})


def scan(source: Path) -> RunFolder:
    """The evidence in SOURCE; KohyaWrapError when it is not a folder of one sd-scripts run."""
    given = Path(source).expanduser()
    if not given.exists():
        raise KohyaWrapError(f"{given} does not exist.")
    if not given.is_dir():
        raise KohyaWrapError(f"{given} is not a folder.", hint="give the folder of a past run: its output_dir, "
                             "or the folder that holds its logs, LoRA files and TensorBoard logs")
    run = RunFolder(given.resolve())
    if is_job_folder(run.source):
        raise KohyaWrapError(f"{run.source} is a kohya-wrap job folder, not a past run to adopt.",
                             hint="job folders are in the registry already; `kohya-wrap registry rebuild` re-reads them")
    _walk(run, run.source, 0)
    run.header_copies = [p for p in run.header_copies if not p.with_name(p.name[:-len(".header.json")]).exists()]
    if not (run.outputs or run.states or run.logs or run.event_files):
        raise KohyaWrapError(f"{run.source} is not a run folder: it holds no LoRA files (*.safetensors), *-state "
                             "folders, logs (*.log) or TensorBoard event files.",
                             hint="give sd-scripts' output_dir, or a folder with a run's stdout/stderr logs")
    run.logs = ordered_logs(run.source, run.logs)
    return run


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError as error:
        raise KohyaWrapError(f"Cannot read the folder {folder}: {error.strerror}.",
                             hint="kohya-wrap only reads a past run's files: give it read access") from None


def _walk(run: RunFolder, folder: Path, depth: int) -> None:
    entries = _entries(folder)
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            _folder(run, path, depth)
        elif entry.is_file():
            _file(run, path, depth, folder.name)


def _folder(run: RunFolder, path: Path, depth: int) -> None:
    if path.name.endswith("-state"):
        run.states.append(path)  # accelerate's state files, read as they are (never descended into for LoRAs)
    elif is_job_folder(path):
        run.skipped.append((path, "a kohya-wrap job folder (in the registry already)"))
    elif any(entry.name.endswith(".log") and entry.is_file() for entry in _entries(path)):
        run.skipped.append((path, "it holds logs of its own, so it is another run: import it separately"))
    elif depth + 1 >= MAX_DEPTH:
        run.skipped.append((path, f"deeper than {MAX_DEPTH} levels"))
    else:
        _walk(run, path, depth + 1)


def _file(run: RunFolder, path: Path, depth: int, parent: str) -> None:
    name = path.name
    if name.endswith(LORA):
        run.loras.append(path)
    elif name.endswith(HEADER_COPY):
        run.header_copies.append(path)
    elif name.startswith(EVENT_FILE):
        run.event_files.append(path)
    elif name.endswith(".log") and depth == 0:
        run.logs.append(path)
    elif path.suffix.lower() in IMAGES and parent.lower() in SAMPLE_DIRS:
        run.samples.append(path)
    elif path.suffix.lower() in CONFIGS and depth <= 2:
        run.configs.append(path)


def log_run_name(path: Path) -> str:
    """The run a log belongs to: its name without the stream part ('a.stdout.log' and 'a.stderr.log' -> 'a')."""
    stem = _STREAM.sub("", path.name[:-len(".log")])
    return "" if stem.lower() in ONLY_STREAM else stem


def ordered_logs(source: Path, logs: list[Path]) -> list[Path]:
    """One run's logs, stdout before stderr (the order the parser wants); refuses the logs of several runs."""
    runs = sorted({log_run_name(path) for path in logs})
    if len(runs) > 1:
        names = ", ".join(name or "(unnamed)" for name in runs)
        raise KohyaWrapError(f"{source} holds the logs of {len(runs)} runs ({names}); one folder is one run.",
                             hint="put each run's logs (its stdout and stderr files) in a folder of their own, "
                                  "then import those folders")

    def rank(path: Path) -> tuple[int, str]:
        name = path.name.lower()
        return (2 if "stderr" in name or name.endswith("err.log") else 0 if "stdout" in name else 1), path.name

    return sorted(logs, key=rank)

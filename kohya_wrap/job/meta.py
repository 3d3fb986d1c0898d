"""registry.json in a job folder: the registry's own facts (queue, supervisor, versions, tags), so a
rebuild from job folders loses nothing."""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kohya_wrap.fileio import write_json_atomic

META_FILE = "registry.json"
_LOCK_FILE = ".registry.lock"


def read_meta(job_dir: Path) -> dict:
    path = Path(job_dir) / META_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@contextmanager
def _locked(job_dir: Path) -> Iterator[None]:
    # A worker and `models tag` may update the same file; an flock keeps read-modify-write whole.
    with open(Path(job_dir) / _LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_meta(job_dir: Path, **sections) -> dict:
    """Merge top-level sections (a dict merges one level deep; None removes the section)."""
    with _locked(job_dir):
        meta = read_meta(job_dir)
        for key, value in sections.items():
            if value is None:
                meta.pop(key, None)
            elif isinstance(value, dict) and isinstance(meta.get(key), dict):
                meta[key] = {**meta[key], **value}
            else:
                meta[key] = value
        write_json_atomic(Path(job_dir) / META_FILE, meta)
        return meta


def update_model_entry(job_dir: Path, file_name: str, **fields) -> dict:
    """Set fields of one output file's entry (version, tags, notes)."""
    with _locked(job_dir):
        meta = read_meta(job_dir)
        models = meta.setdefault("models", {})
        models[file_name] = {**models.get(file_name, {}), **fields}
        write_json_atomic(Path(job_dir) / META_FILE, meta)
        return models[file_name]


DRY_RUN_KEY = "dry_run"


def is_dry_run(job_dir: Path) -> bool:
    """A folder a dry run rendered (marked in registry.json), and nothing ever ran in it."""
    try:
        marked = DRY_RUN_KEY in read_meta(job_dir)
    except (OSError, ValueError):
        return False
    from kohya_wrap.job.folder import EVENTS, SUMMARY, TRAIN_LOG

    return marked and not any((Path(job_dir) / name).exists() for name in (TRAIN_LOG, EVENTS, SUMMARY))

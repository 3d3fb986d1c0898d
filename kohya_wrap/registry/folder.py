"""Read a job folder (the source of truth) into the pieces the registry rows are derived from."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.registry.meta import read_meta
from kohya_wrap.tomlcompat import loads

_PRESET = re.compile(r"from preset '([^']+)'")


@dataclass
class JobFolder:
    """Everything on disk about one job that the registry cares about."""

    path: Path
    config: dict = field(default_factory=dict)
    command: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    preset: str | None = None

    @property
    def id(self) -> str:
        return self.path.name


def is_job_folder(path: Path) -> bool:
    return (Path(path) / "job.toml").is_file()


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_events(path: Path) -> list[dict]:
    """events.jsonl as dicts; a last line still being written is left out."""
    from kohya_wrap.logs.events import read_events_jsonl

    return [event.to_dict() for event in read_events_jsonl(path)] if path.is_file() else []


def preset_of(job_toml: str) -> str | None:
    """The preset named in job.toml's opening comment (config.render writes it there)."""
    match = _PRESET.search(job_toml.split("\n", 1)[0])
    return match.group(1) if match else None


def read_job_folder(path: Path) -> JobFolder:
    path = Path(path).resolve()
    text = (path / "job.toml").read_text(encoding="utf-8")
    return JobFolder(
        path=path,
        preset=preset_of(text),
        config=loads(text),
        command=_json(path / "command.json"),
        events=read_events(path / "events.jsonl"),
        summary=_json(path / "summary.json"),
        meta=read_meta(path),
        outputs=sorted((path / "output").glob("*.safetensors")),
    )


def inspect_output(path: Path) -> dict:
    """size, sha256, key ss_* metadata and the non-finite tensors of a saved LoRA file."""
    from kohya_wrap.reports.lora import LoraFileError, inspect_lora

    try:
        return inspect_lora(path).to_dict()
    except LoraFileError as error:
        # A file cut short (run killed while saving) is still recorded, with what is wrong with it.
        return {"path": str(path), "bytes": path.stat().st_size, "sha256": None, "metadata": {},
                "error": error.message}

"""Run the generation child in the backend's python: write its spec, read its JSON events, report progress."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.errors import Interrupted, KohyaWrapError, RunFailed
from kohya_wrap.validate._gen_child import OFFLINE
from kohya_wrap.validate.settings import GenerationSettings, Prompt

CHILD = Path(__file__).with_name("_gen_child.py")
LOG_NAME = "generate.log"
Progress = Callable[[dict], None]


@dataclass
class Render:
    """One image to render: a prompt on a seed, with no LoRA (the base) or one LoRA at one strength."""

    id: str
    prompt: Prompt
    prompt_index: int
    seed: int
    lora: str | None
    strength: float | None
    out: Path

    def to_spec(self, settings: GenerationSettings) -> dict:
        return {"id": self.id, "prompt": self.prompt.text, "negative": self.prompt.negative, "seed": self.seed,
                "lora": self.lora, "strength": 0.0 if self.strength is None else self.strength,
                "width": settings.width, "height": settings.height, "steps": settings.steps, "cfg": settings.cfg,
                "sampler": settings.sampler, "out": str(self.out)}


@dataclass
class ChildResult:
    loaded: dict = field(default_factory=dict)
    loras: dict[str, dict] = field(default_factory=dict)
    images: dict[str, dict] = field(default_factory=dict)
    clip: dict[str, float] = field(default_factory=dict)
    done: dict = field(default_factory=dict)


def resolve_base(base: str | Path | None, base_config: str | Path | None) -> tuple[Path, Path | None]:
    """(base model, config folder for a single-file checkpoint); a single file without one gets SDXL base's."""
    if not base:
        raise KohyaWrapError("No base model", hint="pass --base with an SDXL .safetensors checkpoint or a diffusers folder")
    path = Path(base).expanduser()
    if not path.exists():
        raise KohyaWrapError(f"Base model not found: {path}", hint="pass --base with an existing checkpoint or folder")
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise KohyaWrapError(f"{path} is a folder but not a diffusers pipeline (no model_index.json)",
                                 hint="pass a single-file .safetensors checkpoint or a diffusers folder")
        return path.resolve(), None
    if base_config:
        config = Path(base_config).expanduser()
        if not (config / "model_index.json").is_file():
            raise KohyaWrapError(f"--base-config {config} has no model_index.json",
                                 hint="give a diffusers folder with the configs of the checkpoint's model")
        return path.resolve(), config.resolve()
    from kohya_wrap.validate.sdxl_config import sdxl_config_dir

    return path.resolve(), sdxl_config_dir()


def build_spec(base: Path, base_config: Path | None, loras: dict[str, Path], renders: list[Render],
               settings: GenerationSettings, clip: Path | None = None, threads: int | None = None) -> dict:
    return {"base": str(base), "base_config": str(base_config) if base_config else None,
            "device": settings.device, "dtype": settings.dtype, "threads": threads,
            "loras": [{"name": name, "path": str(path)} for name, path in loras.items()],
            "clip": str(clip) if clip else None, "renders": [r.to_spec(settings) for r in renders]}


def child_argv(python: str, spec_path: Path) -> list[str]:
    return [python, str(CHILD), str(spec_path)]


def child_env() -> dict[str, str]:
    return {**os.environ, **OFFLINE, "PYTHONUNBUFFERED": "1"}


def run_child(spec: dict, work_dir: Path, progress: Progress | None = None, python: str | None = None) -> ChildResult:
    """Run the child on `spec`; its stderr goes to work_dir/generate.log. RunFailed with the cause if it fails."""
    from kohya_wrap.backend.locate import backend_python

    work_dir.mkdir(parents=True, exist_ok=True)
    spec_path = work_dir / "generate-spec.json"
    spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    log_path = work_dir / LOG_NAME
    result, error = ChildResult(), None
    with open(log_path, "wb") as log:
        child = subprocess.Popen(child_argv(python or backend_python(), spec_path), stdout=subprocess.PIPE,
                                 stderr=log, env=child_env())
        try:
            for line in child.stdout:
                event = _parse(line)
                if event is None:
                    continue
                error = event if event.get("type") == "error" else error
                _collect(result, event)
                if progress is not None:
                    progress(event)
            code = child.wait()
        except KeyboardInterrupt:
            child.terminate()
            child.wait(timeout=30)
            raise Interrupted("Generation interrupted") from None
    if code != 0 or error is not None:
        raise _failure(code, error, log_path)
    return result


def _parse(line: bytes) -> dict | None:
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) else None


def _collect(result: ChildResult, event: dict) -> None:
    kind = event.get("type")
    if kind == "loaded":
        result.loaded = event
    elif kind == "lora":
        result.loras[event["name"]] = event
    elif kind == "image":
        result.images[event["id"]] = event
    elif kind == "clip":
        result.clip[event["id"]] = event["score"]
    elif kind == "done":
        result.done = event


def _failure(code: int, error: dict | None, log_path: Path) -> RunFailed:
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    if error is not None:
        message = f"Generation failed: {error.get('kind')}: {error.get('message')}"
    elif code in (-9, 137):
        message = "Generation was killed (out of memory?)"
    else:
        message = f"Generation exited with code {code}"
    hint = f"the child's log is {log_path}" + (f"; it ends: {' | '.join(tail)}" if tail else "")
    return RunFailed(message, hint=hint)

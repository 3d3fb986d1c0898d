"""Pure builder of the launch command (argv list, env additions, cwd) for one job folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENTRY_SCRIPT = "sdxl_train_network.py"
# No run may reach for the network: tokenizers come from the local cache, models from files.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "DIFFUSERS_OFFLINE": "1"}
STREAM_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start the trainer, recorded as command.json."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    backend_commit: str | None = None
    platform: dict = field(default_factory=dict)
    substitutions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> "LaunchSpec":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def build_argv(*, python: str, backend_root: Path, job_dir: Path, launcher: str = "accelerate",
               num_cpu_threads_per_process: int = 2, resume_state: Path | None = None,
               entry_script: str = ENTRY_SCRIPT) -> list[str]:
    """The trainer's argv. Preset values never appear here: they travel inside args.toml."""
    script = str(Path(backend_root) / entry_script)
    if launcher == "accelerate":
        head = [python, "-m", "accelerate.commands.launch", "--config_file", str(job_dir / "accelerate.yaml"),
                "--num_cpu_threads_per_process", str(num_cpu_threads_per_process), script]
    elif launcher == "python":
        head = [python, script]
    else:
        raise ValueError(f"unknown launcher {launcher!r}")
    argv = head + ["--config_file", str(job_dir / "args.toml"), "--console_log_simple"]
    if resume_state is not None:
        argv += ["--resume", str(resume_state)]
    return argv


def build_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment additions on top of the caller's environment."""
    env = {**OFFLINE_ENV, **STREAM_ENV}
    env.update(extra or {})
    return env


def build_spec(*, python: str, backend_root: Path, job_dir: Path, launcher: str = "accelerate",
               num_cpu_threads_per_process: int = 2, resume_state: Path | None = None,
               extra_env: dict[str, str] | None = None, backend_commit: str | None = None,
               platform: dict | None = None, substitutions: list[str] | None = None) -> LaunchSpec:
    argv = build_argv(python=python, backend_root=backend_root, job_dir=job_dir, launcher=launcher,
                      num_cpu_threads_per_process=num_cpu_threads_per_process, resume_state=resume_state)
    return LaunchSpec(argv=argv, env=build_env(extra_env), cwd=str(backend_root), backend_commit=backend_commit,
                      platform=dict(platform or {}), substitutions=list(substitutions or []))

"""Job ids and the fixed file names inside a job folder (DESIGN.md's contract between stages)."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import KohyaWrapError

COMMAND = "command.json"
EVENTS = "events.jsonl"
TRAIN_LOG = "train.log"
JOB_TOML = "job.toml"
SUMMARY = "summary.json"
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def new_job_id(name: str, now: float | None = None) -> str:
    """<YYYYmmdd-HHMMSS>-<name>-<4 hex>."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    safe = NAME_UNSAFE.sub("-", name).strip("-.") or "job"
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


def find_job(job: str | Path, runs_dir: Path | None = None) -> Path:
    """A job folder from a path, an exact id, or a unique id prefix/suffix under the runs folder."""
    candidate = Path(job).expanduser()
    if (candidate / COMMAND).is_file() or (candidate / JOB_TOML).is_file():
        return candidate.resolve()
    root = runs_dir or paths.runs_dir()
    exact = root / str(job)
    if exact.is_dir():
        return exact.resolve()
    matches = sorted(path for path in root.glob("*") if path.is_dir() and str(job) in path.name) if root.is_dir() else []
    if len(matches) == 1:
        return matches[0].resolve()
    if not matches:
        raise KohyaWrapError(f"No job {str(job)!r} in {root}.", hint="`kohya-wrap jobs ls` lists jobs; or give the job folder's path")
    names = ", ".join(path.name for path in matches[:5])
    raise KohyaWrapError(f"{str(job)!r} matches {len(matches)} jobs: {names}", hint="give more of the job id")


def read_args(job_dir: Path) -> dict:
    """sd-scripts arguments from args.toml, sections flattened the way sd-scripts does (later key wins)."""
    from kohya_wrap.tomlcompat import loads

    path = Path(job_dir) / "args.toml"
    if not path.is_file():
        return {}
    flat: dict = {}
    for key, value in loads(path.read_text(encoding="utf-8")).items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat

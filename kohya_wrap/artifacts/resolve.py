"""Which LoRA file a reference names: a .safetensors path or a job folder (its final LoRA)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError

LORA_SUFFIX = ".safetensors"
# sd-scripts names intermediate saves <output_name>-step00000500 and <output_name>-000003 (epochs).
INTERMEDIATE = re.compile(r"^(?P<base>.+?)-(?:step(?P<step>\d{8})|(?P<epoch>\d{6}))$")


@dataclass(frozen=True)
class LoraRef:
    """One LoRA file, the job folder it came from (if any), and whether it is that job's final save."""

    path: Path
    job_dir: Path | None
    final: bool

    @property
    def name(self) -> str:
        return self.path.stem


def lookup_job_or_model(ref: str) -> Path | None:
    """Hook for the job core's find(ref) and the registry's model versions (NAME:v2).

    Returns the job folder or LoRA file the reference names, or None. Not connected yet: until the lead wires it to
    kohya_wrap.job.folder.find and the registry's models, only paths resolve.
    """
    return None


def resolve_lora(ref: str | Path) -> LoraRef:
    """The LoRA a reference names; KohyaWrapError (exit 2) with a hint when it names none."""
    given = Path(ref).expanduser()
    if not given.exists():
        found = lookup_job_or_model(str(ref))
        if found is None:
            raise KohyaWrapError(f"No LoRA file or job folder at {ref!r}",
                                 hint="give a .safetensors file or a job folder (job ids and MODEL:vN names are "
                                      "not resolved by this command yet)")
        given = found
    if given.is_dir():
        return final_lora(given)
    if given.suffix != LORA_SUFFIX:
        raise KohyaWrapError(f"{given} is not a .safetensors file", hint="LoRA files are .safetensors")
    return LoraRef(path=given.resolve(), job_dir=job_of(given), final=is_final(given))


def job_of(lora: Path) -> Path | None:
    """The job folder a LoRA file lies in (<job>/output/x.safetensors), if it lies in one."""
    folder = Path(lora).resolve().parent
    for candidate in (folder.parent, folder):
        if (candidate / "job.toml").is_file() or (candidate / "args.toml").is_file():
            return candidate
    return None


def is_final(lora: Path) -> bool:
    return INTERMEDIATE.match(Path(lora).stem) is None


def loras_in(job_dir: Path) -> list[Path]:
    """The job's LoRA files, oldest first."""
    output = output_dir(job_dir)
    files = [p for p in output.glob(f"*{LORA_SUFFIX}") if p.is_file()] if output.is_dir() else []
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def output_dir(job_dir: Path) -> Path:
    from kohya_wrap.artifacts.jobinfo import read_args

    configured = read_args(job_dir).get("output_dir")
    return Path(configured) if configured and Path(configured).is_dir() else Path(job_dir) / "output"


def final_lora(job_dir: Path) -> LoraRef:
    """The job's final LoRA (<output_name>.safetensors), else its newest intermediate save."""
    job_dir = Path(job_dir).resolve()
    if not ((job_dir / "job.toml").is_file() or (job_dir / "args.toml").is_file()):
        raise KohyaWrapError(f"{job_dir} is not a job folder (no job.toml or args.toml)",
                             hint="give the job folder kohya-wrap train made, or a .safetensors file")
    files = loras_in(job_dir)
    if not files:
        raise KohyaWrapError(f"Job {job_dir.name} has no LoRA file in {output_dir(job_dir)}",
                             hint="the job has not saved yet; `kohya-wrap jobs show` tells how far it got")
    finals = [p for p in files if is_final(p)]
    chosen = finals[-1] if finals else files[-1]
    return LoraRef(path=chosen, job_dir=job_dir, final=bool(finals))

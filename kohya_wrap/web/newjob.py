"""The new-job form: presets to pick from, the same validation as the CLI, a preview (steps, time, cost), queuing."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.config.resolve import resolve
from kohya_wrap.errors import KohyaWrapError, PresetError
from kohya_wrap.presets.catalog import find_preset, flatten, list_presets, read_preset, shipped_names
from kohya_wrap.runner.plan import estimate_job
from kohya_wrap.runner.prepare import prepare
from kohya_wrap.runner.submit import add_jobs, expand_sweeps
from kohya_wrap.web.datasets import dataset_path


def presets() -> list[dict]:
    return [{"name": info.name, "file": info.path.stem, "purpose": info.purpose, "vram_gb": info.vram_gb}
            for info in list_presets()]


def preset(name: str) -> dict:
    """A shipped preset: its text (comments say why each value was chosen) and its values by key."""
    if name not in shipped_names():
        raise PresetError(f"No shipped preset {name!r}.", hint="shipped presets: " + ", ".join(shipped_names()))
    path = find_preset(name)
    return {"name": name, "text": path.read_text(encoding="utf-8"), "values": flatten(read_preset(path))}


def _lines(value) -> list[str]:
    """Overrides and sweeps arrive as a list (JSON) or as text with one per line (a form)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).splitlines()
    return [str(item).strip() for item in items if str(item).strip() and not str(item).strip().startswith("#")]


def _path(value) -> Path | None:
    text = str(value or "").strip()
    return Path(text).expanduser() if text else None


@dataclass
class JobRequest:
    """What the form (or a script's JSON) asks for."""

    preset: str
    overrides: list[str] = field(default_factory=list)
    sweeps: list[str] = field(default_factory=list)
    dataset: str = ""
    model: str = ""
    reg: str = ""
    name: str | None = None
    priority: int = 0
    force: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> "JobRequest":
        preset_name = str(data.get("preset") or "").strip()
        if preset_name not in shipped_names():
            raise PresetError(f"Pick one of the shipped presets, not {preset_name!r}.",
                              hint="shipped presets: " + ", ".join(shipped_names()))
        try:
            priority = int(data.get("priority") or 0)
        except (TypeError, ValueError):
            raise KohyaWrapError(f"priority must be a whole number, not {data.get('priority')!r}.") from None
        return cls(preset=preset_name, overrides=_lines(data.get("overrides")), sweeps=_lines(data.get("sweeps")),
                   dataset=str(data.get("dataset") or "").strip(), model=str(data.get("model") or "").strip(),
                   reg=str(data.get("reg") or "").strip(), name=str(data.get("name") or "").strip() or None,
                   priority=priority, force=str(data.get("force") or "").lower() in ("1", "true", "on", "yes"))

    def dataset_dir(self) -> Path | None:
        """An uploaded dataset by name, or a folder on the server by its path."""
        if not self.dataset:
            return None
        if "/" not in self.dataset and not self.dataset.startswith("~"):
            return dataset_path(self.dataset)
        return _path(self.dataset)

    def options(self) -> dict:
        return {"dataset": self.dataset_dir(), "model": _path(self.model), "reg": _path(self.reg)}


def validate(request: JobRequest) -> dict:
    """The preset with the overrides, checked as `kohya-wrap config validate` checks it (ConfigError lists
    every problem)."""
    options = request.options()
    resolved = resolve(request.preset, request.overrides, dataset=options["dataset"], reg=options["reg"],
                       model=options["model"], check_model=options["model"] is not None)
    combos = expand_sweeps(request.sweeps) if request.sweeps else []
    return {"valid": True, "config": resolved.data, "provenance": resolved.provenance,
            "jobs": max(1, len(combos)), "sweep": [overrides for _, overrides in combos]}


def preview(registry, request: JobRequest) -> dict:
    """Render the (first) job into a scratch folder as queuing would, to show its step count and estimate;
    nothing is queued and the scratch folder is removed."""
    combos = expand_sweeps(request.sweeps) if request.sweeps else [("", [])]
    scratch = paths.cache_dir() / "web-preview" / secrets.token_hex(6)
    try:
        prepared = prepare(request.preset, [*request.overrides, *combos[0][1]], name=request.name,
                           runs_dir=scratch, **request.options())
        plan = estimate_job(registry, prepared.job_dir, force=True)
        steps = prepared.step_plan.to_dict() if prepared.step_plan is not None else None
        return {"jobs": len(combos), "steps": steps, "summary": prepared.preview, "notes": prepared.notes,
                "findings": [f.to_dict() for f in prepared.findings],
                "estimate": {"seconds": plan.estimate.seconds, "cost_usd": plan.estimate.cost,
                             "basis": plan.estimate.basis, "over_limit": plan.warnings}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def queue(registry, request: JobRequest) -> list[dict]:
    """Queue the job (one per sweep combination) exactly as `kohya-wrap queue add` does."""
    options = request.options()
    if options["dataset"] is None or options["model"] is None:
        raise KohyaWrapError("A job needs a dataset and a base model.",
                             hint="choose an uploaded dataset or type a folder on the server; give the base "
                                  "SDXL checkpoint's path on the server")
    return add_jobs(registry, request.preset, request.overrides, request.sweeps, name=request.name,
                    priority=request.priority, force=request.force, **options)

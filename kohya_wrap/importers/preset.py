"""The import use case: read a source in its format, finish it, write the preset, prove it with config validate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.errors import ConfigError, ConfigIssue, KohyaWrapError
from kohya_wrap.fileio import write_text_atomic
from kohya_wrap.importers import detect
from kohya_wrap.importers.finish import finish
from kohya_wrap.importers.record import Imported
from kohya_wrap.importers.write import render_preset


@dataclass
class ImportResult:
    """What `import preset` did: the import, where the preset went, and config validate's verdict."""

    imported: Imported
    out: Path
    problems: list[ConfigIssue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"out": str(self.out), "valid": self.valid, "problems": [issue.line() for issue in self.problems],
                **self.imported.to_dict()}


def read_source(path: Path, fmt: str | None = None, dataset_config: Path | None = None) -> Imported:
    """PATH (format FMT, else detected from its content) -> the finished import."""
    from kohya_wrap.importers import kohya_ss, lora_easy, lora_meta, sd_scripts

    path = Path(path).expanduser()
    if not path.is_file():
        raise KohyaWrapError(f"{path} does not exist or is not a file.")
    found, data = detect.load(path)
    fmt = fmt or found
    if fmt != found and {fmt, found} != {"sd-scripts", "lora-easy"}:
        raise KohyaWrapError(f"{path.name} does not look like {fmt} (its content reads as {found}).",
                             hint=f"drop --from to import it as {found}")
    if dataset_config is not None and fmt != "sd-scripts":
        raise KohyaWrapError("--dataset-config goes with an sd-scripts --config_file (--from sd-scripts).")
    readers = {"kohya-ss": lambda: kohya_ss.read(path, data), "lora-easy": lambda: lora_easy.read(path, data),
               "sd-scripts": lambda: sd_scripts.read(path, data, dataset_config),
               "lora": lambda: lora_meta.read(path, data)}
    return finish(readers[fmt]())


def default_out(imported: Imported, folder: Path | None = None) -> Path:
    return (folder or Path.cwd()) / f"{slug(imported.name)}.toml"


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text or "imported"


def import_preset(path: Path, fmt: str | None = None, dataset_config: Path | None = None,
                  out: Path | None = None, force: bool = False) -> ImportResult:
    """Import PATH as a preset TOML at OUT (never over an existing file unless forced), then validate it."""
    from kohya_wrap.config.resolve import resolve

    imported = read_source(path, fmt, dataset_config)
    target = Path(out).expanduser() if out else default_out(imported)
    if target.suffix != ".toml":
        raise KohyaWrapError(f"{target} must end in .toml so that it can be used as a preset.")
    if target.exists() and not force:
        raise KohyaWrapError(f"{target} already exists.", hint="pass --force to overwrite it, or --out another name")
    if target.resolve() == Path(path).expanduser().resolve():
        raise KohyaWrapError("--out is the source file itself; the source is never overwritten.")
    write_text_atomic(target, render_preset(imported, slug(imported.name), target.name))
    try:
        resolve(str(target))
        problems = []
    except ConfigError as error:
        problems = error.issues
    return ImportResult(imported, target, problems)

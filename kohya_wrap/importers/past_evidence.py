"""What a past run's files say without its log: the training config (job.toml), LoRA metadata, saved files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.importers.past_run import HEADER_COPY, RunFolder
from kohya_wrap.importers.record import Imported, ImportRefused
from kohya_wrap.job.events import Event, make_event

# Which config describes a run best when several are there: sd-scripts' own args file, the GUI's, LoRA_Easy's.
FORMAT_RANK = {"sd-scripts": 0, "kohya-ss": 1, "lora-easy": 2}
ARG_MARKERS = {"pretrained_model_name_or_path", "network_module", "output_name", "output_dir", "max_train_steps",
               "max_train_epochs", "learning_rate", "dataset_config", "train_data_dir"}


@dataclass
class RunConfig:
    """The config a past run was trained with, where it came from, and the notes of how it was chosen."""

    imported: Imported | None = None
    origin: str = ""  # "sd-scripts config training_args.toml", "LoRA metadata of x.safetensors", ""
    notes: list[str] = field(default_factory=list)

    @property
    def output_name(self) -> str | None:
        name = self.imported.get("saving.output_name") if self.imported else None
        return str(name) if name else None


def lora_metadata(path: Path) -> dict:
    """The ss_*/modelspec metadata of a LoRA or of a header-only copy of one; {} when its header is unreadable
    (the registry records that file's problem)."""
    from kohya_wrap.importers.lora_meta import read_header

    try:
        header = read_header(path)
    except (KohyaWrapError, OSError, ValueError):
        return {}
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def original_name(path: Path) -> str:
    """The LoRA file a path stands for: 'x.safetensors' for x.safetensors and for x.safetensors.header.json."""
    return path.name[:-len(".header.json")] if path.name.endswith(HEADER_COPY) else path.name


def training_config(run: RunFolder, metas: dict[Path, dict]) -> RunConfig:
    """The run's own config file when it has one (sd-scripts args TOML, kohya_ss JSON, LoRA_Easy TOML), else the
    ss_* metadata of its latest LoRA. A run trained for another model family is refused (ImportRefused)."""
    chosen = RunConfig()
    candidates = _config_files(run, chosen.notes)
    for rank, path, fmt in candidates:
        try:
            chosen.imported = _read_config(path, fmt, run)
        except ImportRefused:
            raise
        except KohyaWrapError as error:
            chosen.notes.append(f"{path.name} was not used: {error.message}")
            continue
        chosen.origin = f"{chosen.imported.label} {path.name}"
        others = [p.name for _, p, _ in candidates if p != path]
        if others:
            chosen.notes.append(f"config from {path.name}; also found, not used: {', '.join(others)}")
        return chosen
    latest = latest_lora(metas)
    if latest is not None:
        from kohya_wrap.importers.finish import finish
        from kohya_wrap.importers.lora_meta import read, read_header

        chosen.imported = finish(read(latest, read_header(latest)))
        chosen.origin = f"LoRA metadata of {latest.name}"
        chosen.notes.append(f"no config file in the folder: the config comes from the ss_* metadata of {latest.name}")
    else:
        chosen.notes.append("no config file and no LoRA with sd-scripts metadata: job.toml holds only the name")
    return chosen


def _config_files(run: RunFolder, notes: list[str]) -> list[tuple[int, Path, str]]:
    from kohya_wrap.importers import detect
    from kohya_wrap.importers.sd_scripts import flatten, is_dataset_config

    found = []
    for path in run.configs:
        try:
            fmt, data = detect.load(path)
        except KohyaWrapError:
            continue  # not a config of any tool we read (expected_scalars.json, a README's TOML ...)
        if fmt == "sd-scripts" and (is_dataset_config(data) or not ARG_MARKERS & set(flatten(data))):
            continue
        if fmt in FORMAT_RANK:
            depth = len(path.relative_to(run.source).parts)
            found.append(((FORMAT_RANK[fmt], depth, -path.stat().st_mtime), path, fmt))
    return [(rank, path, fmt) for rank, path, fmt in sorted(found, key=lambda item: (item[0], str(item[1])))]


def _read_config(path: Path, fmt: str, run: RunFolder) -> Imported:
    from kohya_wrap.importers.preset import read_source

    return read_source(path, fmt, _moved_dataset_config(path, fmt, run))


def _moved_dataset_config(path: Path, fmt: str, run: RunFolder) -> Path | None:
    """The dataset config an args TOML names by the absolute path of the machine it ran on, found in the run's
    folder under the same name (None when it is where the config says, or nowhere)."""
    from kohya_wrap.importers.sd_scripts import flatten
    from kohya_wrap.tomlcompat import loads

    if fmt != "sd-scripts":
        return None
    named = flatten(loads(path.read_text(encoding="utf-8"))).get("dataset_config")
    if named is None or Path(str(named[0])).expanduser().is_file():
        return None
    same_name = [p for p in run.configs if p.name == Path(str(named[0])).name]
    return same_name[0] if len(same_name) == 1 else None


def latest_lora(metas: dict[Path, dict]) -> Path | None:
    """The LoRA saved last, by its ss_steps (the final file wins a tie): the one whose metadata describes the run."""
    with_meta = [(path, meta) for path, meta in metas.items() if any(key.startswith("ss_") for key in meta)]
    if not with_meta:
        return None

    def order(item):
        path, meta = item
        final = meta.get("ss_output_name") and original_name(path) == f"{meta['ss_output_name']}.safetensors"
        return _number(meta.get("ss_steps")) or 0, bool(final), path.name

    return max(with_meta, key=order)[0]


def job_toml(config: RunConfig, source: Path, name: str) -> str:
    """job.toml of an adopted run: the imported config with its provenance, opening with where the run lies."""
    from kohya_wrap.importers.preset import slug
    from kohya_wrap.importers.write import render_preset

    head = [f"# Adopted by `kohya-wrap registry import` from the past run in {source}",
            "# (its files stay where they are; registry.json `imported` lists them with their sha256)"]
    if config.imported is None:
        body = ["", "[meta]", f"name = {_quoted(slug(name))}",
                f"description = {_quoted(f'Past run adopted from {source.name}')}", 'tags = ["imported", "past-run"]']
        return "\n".join(head + [f"# {note}" for note in config.notes] + body) + "\n"
    config.imported.notes.extend(config.notes)
    return "\n".join(head) + "\n" + render_preset(config.imported, slug(name), "job.toml")


def _quoted(text: str) -> str:
    from kohya_wrap.tomlcompat import dumps

    return dumps({"v": text}).split(" = ", 1)[1].strip()


def saved_events(metas: dict[Path, dict], output_name: str | None) -> list[Event]:
    """`saved` events for LoRA files a run left without a log: step and epoch from their metadata, time from
    ss_training_finished_at (else the file's mtime), in the order they were saved. A header-only copy stands for
    the LoRA it came from, so its event names that file (which is not here)."""
    events = []
    for path, meta in metas.items():
        name = original_name(path)
        stem = name[:-len(".safetensors")]
        final = stem == (output_name or meta.get("ss_output_name"))
        when = _number(meta.get("ss_training_finished_at")) or path.stat().st_mtime
        events.append(make_event("saved", when, path=str(path.with_name(name)), what="model", final=final or None,
                                 step=_int(meta.get("ss_steps")), epoch=_int(meta.get("ss_epoch"))))
    return sorted(events, key=lambda e: (e.t, e.get("step") or 0, e.get("path")))


def run_started_at(metas: dict[Path, dict]) -> float | None:
    """When training began, by the LoRAs' ss_training_started_at."""
    times = [t for t in (_number(meta.get("ss_training_started_at")) for meta in metas.values()) if t]
    return min(times) if times else None


def max_steps(metas: dict[Path, dict]) -> int | None:
    values = [v for v in (_int(meta.get("ss_max_train_steps")) for meta in metas.values()) if v]
    return max(values) if values else None


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number  # NaN is no number here


def _int(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None

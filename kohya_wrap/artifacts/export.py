"""Put a LoRA where ComfyUI, A1111 or Forge finds it, with the sidecar files they read; never overwrite a different file."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kohya_wrap.artifacts import header as st
from kohya_wrap.artifacts.jobinfo import JobFacts, job_facts
from kohya_wrap.artifacts.keys import check_keys
from kohya_wrap.artifacts.resolve import resolve_lora
from kohya_wrap.artifacts.sidecars import UsageHints, a1111_sidecar, comfyui_workflow, training_notes
from kohya_wrap.errors import KohyaWrapError

TOOLS = ("comfyui", "a1111", "forge")
LORA_FOLDER = {"comfyui": "loras", "a1111": "Lora", "forge": "Lora"}
SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")


@dataclass
class ExportResult:
    tool: str
    lora_dir: str
    name: str
    source: str
    files: list[dict] = field(default_factory=list)  # {"path", "what", "action"}
    keys: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def lora_folder(tool: str, root: Path) -> Path:
    """The tool's LoRA folder under `root` (the tool's folder, its models folder, or the LoRA folder itself)."""
    if tool not in TOOLS:
        raise KohyaWrapError(f"Unknown tool {tool!r}", hint=f"one of {', '.join(TOOLS)}")
    root = Path(root).expanduser()
    leaf = LORA_FOLDER[tool]
    if root.name.lower() == leaf.lower():
        return root
    if root.name == "models":
        return root / leaf
    return root / "models" / leaf


def safe_name(name: str) -> str:
    cleaned = SAFE_NAME.sub("_", name).strip(" .")
    if not cleaned:
        raise KohyaWrapError(f"{name!r} is not usable as a file name", hint="pass --name with letters or digits")
    return cleaned.removesuffix(".safetensors")


def place_file(temp: Path, target: Path) -> str:
    """Move `temp` to `target` unless a file is already there: 'written', or 'unchanged' when it is identical.

    A different file at `target` stays and raises. The move is a hard link, which cannot replace an existing file,
    so two exports racing for one name cannot overwrite each other.
    """
    try:
        if target.exists():
            return _same_or_refuse(temp, target)
        try:
            os.link(temp, target)
        except FileExistsError:
            return _same_or_refuse(temp, target)
        except OSError as error:  # file systems without hard links
            if error.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if target.exists():
                return _same_or_refuse(temp, target)
            os.replace(temp, target)
        return "written"
    finally:
        temp.unlink(missing_ok=True)


def _same_or_refuse(temp: Path, target: Path) -> str:
    if st.file_sha256(temp) == st.file_sha256(target):
        return "unchanged"
    raise KohyaWrapError(f"{target} already exists and is a different file; it was left as it is",
                         hint="pass --name to export under another name, or remove that file yourself")


def write_side_file(target: Path, data: bytes) -> str:
    """Like place_file for small files, but a different existing file (a user's edit) is kept, not an error."""
    if target.exists():
        return "unchanged" if target.read_bytes() == data else "kept existing"
    temp = st.temp_beside(target)
    temp.write_bytes(data)
    try:
        return place_file(temp, target)
    except KohyaWrapError:
        return "kept existing"


def copy_lora(source: Path, target: Path, updates: dict[str, str] | None) -> str:
    """Copy (or, with `updates`, header-rewrite) `source` to `target` atomically."""
    if target.exists() and not updates and st.file_sha256(source) == st.file_sha256(target):
        return "unchanged"
    temp = st.temp_beside(target)
    try:
        if updates:
            st.write_rewritten(source, temp, updates)
        else:
            shutil.copyfile(source, temp)
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return place_file(temp, target)


def metadata_updates(name: str, hints: UsageHints, meta: dict[str, str]) -> dict[str, str]:
    """Header-only rewrite: output name, title, trigger words.

    The trigger words also go into ss_tag_frequency (where A1111 looks for them) only when the file has no tag
    counts: real training statistics are never replaced.
    """
    updates = {"ss_output_name": name, "modelspec.title": name}
    if hints.trigger_words:
        updates["modelspec.trigger_phrase"] = hints.activation_text
        if not meta.get("ss_tag_frequency"):
            updates["ss_tag_frequency"] = json.dumps({"trigger words": {w: 1 for w in hints.trigger_words}})
    return updates


def latest_validation(lora: Path, job_dir: Path | None) -> tuple[dict, Path] | None:
    """The newest validation.json of the job that rendered this LoRA file, and its folder."""
    if job_dir is None:
        return None
    runs = sorted((job_dir / "validation").glob("*/validation.json"), reverse=True)
    for path in runs:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if any(Path(item.get("path", "")).resolve() == lora.resolve() for item in record.get("loras", [])):
            return record, path.parent
    return None


def validation_image(lora: Path, job_dir: Path | None, weight: float) -> tuple[dict, dict, Path] | None:
    """(validation record, image entry, run folder) of this LoRA's validation image at the weight nearest `weight`."""
    found = latest_validation(lora, job_dir)
    if not found:
        return None
    record, folder = found
    names = {item["name"] for item in record.get("loras", []) if Path(item["path"]).resolve() == lora.resolve()}
    images = [i for i in record.get("images", []) if i.get("lora") in names and i.get("strength") is not None]
    if not images:
        return None
    best = min(images, key=lambda i: (abs(i["strength"] - weight), i.get("prompt_index", 0), i["seed"]))
    return record, best, folder


def find_preview(lora: Path, job_dir: Path | None, weight: float) -> Path | None:
    """A validation image of this LoRA at the weight nearest `weight`, else a grid, else the newest trainer sample."""
    shown = validation_image(lora, job_dir, weight)
    if shown:
        return shown[2] / shown[1]["path"]
    found = latest_validation(lora, job_dir)
    if found and (found[1] / "grid.png").is_file():
        return found[1] / "grid.png"
    if job_dir is not None:
        samples = sorted((job_dir / "output" / "sample").glob("*.png"), key=lambda p: p.stat().st_mtime)
        if samples:
            return samples[-1]
    return None


def hints_for(facts: JobFacts | None, meta: dict, weight: float | None, trigger: list[str] | None,
              checkpoint: str | None, shown: tuple[dict, dict, Path] | None = None) -> UsageHints:
    """Trigger words, weight and checkpoint; prompt and sampling from the validation image the preview shows."""
    words = trigger if trigger is not None else (facts.trigger_words if facts else [])
    if not words and meta.get("modelspec.trigger_phrase"):
        words = [w.strip() for w in meta["modelspec.trigger_phrase"].split(",") if w.strip()]
    hints = UsageHints(trigger_words=list(words), weight=1.0 if weight is None else weight)
    base = Path(facts.base_model) if facts and facts.base_model else None
    if checkpoint:
        hints.checkpoint = checkpoint
    elif base is not None and base.suffix in CHECKPOINT_SUFFIXES:  # a diffusers folder is no ComfyUI checkpoint
        hints.checkpoint = base.name
    if shown:
        record, image, _ = shown
        settings = record.get("settings", {})
        prompts, index = settings.get("prompts") or [], image.get("prompt_index", 0)
        hints.negative = prompts[index].get("negative", "") if index < len(prompts) else ""
        hints.prompt, hints.seed = image.get("prompt", ""), image["seed"]
        for field_name in ("steps", "cfg", "sampler", "width", "height"):
            if settings.get(field_name) is not None:
                setattr(hints, field_name, settings[field_name])
    return hints


def export_lora(ref: str, tool: str, root: Path, name: str | None = None, weight: float | None = None,
                trigger: list[str] | None = None, rewrite_metadata: bool = False, checkpoint: str | None = None,
                preview: bool = True) -> ExportResult:
    lora = resolve_lora(ref)
    facts = job_facts(lora.job_dir) if lora.job_dir else None
    meta = st.metadata(lora.path)
    report = check_keys(lora.path)
    folder = lora_folder(tool, root)
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_name(name or lora.name)
    shown = validation_image(lora.path, lora.job_dir, 1.0 if weight is None else weight)
    hints = hints_for(facts, meta, weight, trigger, checkpoint, shown)
    result = ExportResult(tool=tool, lora_dir=str(folder), name=name, source=str(lora.path), keys=report.to_dict(),
                          warnings=report.problems() + ([] if lora.final else [f"{lora.path.name} is an intermediate save"]))
    target = folder / f"{name}.safetensors"
    updates = metadata_updates(name, hints, meta) if rewrite_metadata else None
    result.files.append({"path": str(target), "what": "lora", "action": copy_lora(lora.path, target, updates)})
    if tool in ("a1111", "forge"):
        found = latest_validation(lora.path, lora.job_dir)
        summary = found[0].get("summary_line") if found else None
        notes = training_notes(meta, lora.job_dir.name if lora.job_dir else None, summary)
        text = a1111_sidecar(hints, notes, meta.get("modelspec.description", ""))
        side = folder / f"{name}.json"
        result.files.append({"path": str(side), "what": "a1111 sidecar", "action": write_side_file(side, text.encode())})
    else:
        flow = json.dumps(comfyui_workflow(target.name, hints), indent=2, ensure_ascii=False) + "\n"
        side = folder / f"{name}.workflow.json"
        result.files.append({"path": str(side), "what": "comfyui workflow (API format)",
                             "action": write_side_file(side, flow.encode())})
    if preview:
        _add_preview(result, folder, name, lora.path, lora.job_dir, hints.weight)
    result.warnings += [f"{Path(f['path']).name} differs from what this export writes; the existing file was kept"
                        for f in result.files if f["action"] == "kept existing"]
    return result


def _add_preview(result: ExportResult, folder: Path, name: str, lora: Path, job_dir: Path | None, weight: float):
    source = find_preview(lora, job_dir, weight)
    if source is None or not source.is_file():
        result.warnings.append("no preview: the LoRA has no validation images or samples yet (run kohya-wrap validate)")
        return
    target = folder / f"{name}.preview.png"
    result.files.append({"path": str(target), "what": f"preview from {source}",
                         "action": write_side_file(target, _as_png(source))})


def _as_png(source: Path) -> bytes:
    if source.suffix.lower() == ".png":
        return source.read_bytes()
    import io

    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(source) as image:
        image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()

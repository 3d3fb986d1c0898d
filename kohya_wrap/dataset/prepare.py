"""Build a correct folder-repeat layout from flat folders: a pure, printable plan, then its application."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kohya_wrap.dataset import imageops, rules
from kohya_wrap.dataset.check import pool_context
from kohya_wrap.dataset.findings import Finding, error, info, warning
from kohya_wrap.dataset.judge import stat_problem
from kohya_wrap.errors import DatasetError
from kohya_wrap.fileio import write_bytes_atomic, write_json_atomic

MANIFEST = rules.PREPARED_MANIFEST  # marks a prepared copy: caption tools may edit it without --in-place
FORMATS = ("png", "webp")
RESAMPLE = ("lanczos", "nearest")


@dataclass
class PrepareSettings:
    token: str | None = None
    class_tokens: str | None = None
    repeats: int = 1
    reg_repeats: int = 1
    resize: int | None = None
    fit: str | None = None  # "pad" | "crop" | None (shrink only, keep aspect)
    resample: str = "lanczos"
    image_format: str | None = None  # None keeps each file's own format
    flatten_alpha: str | None = None
    flatten_rgb: tuple[int, int, int] | None = None
    mode: str = "copy"  # "copy" | "link" (symlinks; captions are always copied)
    caption_extension: str = ".txt"

    @property
    def converts(self) -> bool:
        return bool(self.resize or self.image_format or self.flatten_alpha)


@dataclass
class PrepareAction:
    op: str  # copy | link | convert | copy-caption
    src: Path
    dest: Path


@dataclass
class PreparePlan:
    out: Path
    settings: PrepareSettings
    folders: list[dict] = field(default_factory=list)
    actions: list[PrepareAction] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "settings": asdict(self.settings), "folders": self.folders,
                "actions": [{"op": a.op, "src": str(a.src), "dest": str(a.dest)} for a in self.actions],
                "findings": [f.to_dict() for f in self.findings]}

    def lines(self) -> list[str]:
        counts: dict[str, int] = {}
        for action in self.actions:
            counts[action.op] = counts.get(action.op, 0) + 1
        text = [f"Prepare into {self.out}:"]
        for folder in self.folders:
            text.append(f"  {folder['path']}  ({folder['images']} images x {folder['num_repeats']} repeats"
                        f"{', regularisation' if folder['is_reg'] else ''})")
        text.append("  actions: " + ", ".join(f"{n} {op}" for op, n in sorted(counts.items())))
        text += [f"  {a.op:12} {a.src} -> {a.dest.relative_to(self.out)}" for a in self.actions]
        return text


def plan_prepare(sources, out: Path, *, token: str | None = None, class_tokens: str | None = None, repeats: int = 1,
                 reg=(), reg_repeats: int = 1, resize: int | None = None, fit: str | None = None,
                 resample: str = "lanczos", image_format: str | None = None, flatten_alpha: str | None = None,
                 mode: str = "copy", caption_extension: str = ".txt") -> PreparePlan:
    """What `apply_prepare` will create; reads the sources, writes nothing."""
    sources, reg = [Path(s).expanduser().absolute() for s in sources], [Path(r).expanduser().absolute() for r in reg]
    out = Path(out).expanduser().absolute()
    settings = PrepareSettings(token, class_tokens, repeats, reg_repeats, resize, fit, resample, image_format,
                               flatten_alpha, _parse_colour(flatten_alpha), mode, caption_extension)
    _validate(sources, reg, out, settings)
    plan = PreparePlan(out, settings)
    train_tokens = " ".join(part for part in (token, class_tokens) if part)
    _plan_folder(plan, sources, out / rules.PREPARED_TRAIN / f"{repeats}_{train_tokens}", repeats, train_tokens,
                 False)
    if reg:
        _plan_folder(plan, reg, out / rules.PREPARED_REG / f"{reg_repeats}_{class_tokens or token}", reg_repeats,
                     class_tokens or token, True)
    return plan


def _parse_colour(text: str | None):
    if not text:
        return None
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise DatasetError(f"Unknown colour {text!r} for --flatten-alpha.", hint="Use a name or hex: white, #808080.")


def _validate(sources: list[Path], reg: list[Path], out: Path, s: PrepareSettings) -> None:
    problems = []
    real_out = Path(os.path.realpath(out))  # through symlinks: a link into a source is that source
    for folder in sources + reg:
        real = Path(os.path.realpath(folder))
        if not folder.is_dir():
            problems.append(f"source {folder} is not a folder")
        elif real_out == real or real in real_out.parents:
            problems.append(f"--out {out} is inside source {folder}; sources are never written to")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        problems.append(f"--out {out} exists and is not empty")
    if not (s.token or s.class_tokens):
        problems.append("give --token and/or --class: they name the repeat folder")
    for text in (s.token, s.class_tokens):
        if text and ("/" in text or "\\" in text or "\0" in text):
            problems.append(f"{text!r} cannot be part of a folder name")
    if s.repeats < 1 or s.reg_repeats < 1:
        problems.append("--repeats and --reg-repeats must be at least 1 (sd-scripts skips 0)")
    if s.fit and not s.resize:
        problems.append("--pad/--crop need --resize N")
    if s.resize is not None and s.resize < 64:
        problems.append("--resize must be at least 64")
    if s.resample not in RESAMPLE or (s.image_format and s.image_format not in FORMATS):
        problems.append(f"--resample is one of {RESAMPLE}, --format one of {FORMATS}")
    if s.mode == "link" and s.converts:
        problems.append("--link cannot be combined with --resize/--format/--flatten-alpha (those write new files)")
    if problems:
        raise DatasetError("Cannot prepare:\n  - " + "\n  - ".join(problems),
                           hint="Example: kohya-wrap data prepare photos/ --out ds --token ohwx --class woman "
                                "--repeats 10")


def _plan_folder(plan: PreparePlan, sources: list[Path], folder: Path, repeats: int, tokens: str, is_reg: bool) -> None:
    s, used = plan.settings, set()
    count = 0
    for source in sources:
        for image in _source_images(source, plan.findings, s):
            stem = _free_stem(image.stem, used)
            suffix = f".{s.image_format}" if s.image_format else image.suffix.lower()
            dest = folder / (stem + suffix)
            op = "convert" if s.converts else s.mode
            plan.actions.append(PrepareAction(op, image, dest))
            count += 1
            caption, _ = rules.find_caption(image, s.caption_extension)
            if caption is not None:
                plan.actions.append(PrepareAction("copy-caption", caption, folder / (stem + s.caption_extension)))
                _note_trigger(plan, caption, s.token)
    plan.folders.append({"path": str(folder.relative_to(plan.out)), "num_repeats": repeats, "class_tokens": tokens,
                         "is_reg": is_reg, "images": count})


def _source_images(source: Path, findings: list[Finding], s: PrepareSettings) -> list[Path]:
    accepted = {ext.lower() for ext in rules.IMAGE_EXTENSIONS}
    if s.image_format:  # converting: formats sd-scripts cannot read are welcome too
        accepted |= {ext.lower() for ext in rules.PLUGIN_EXTENSIONS + rules.OTHER_IMAGE_SUFFIXES}
    images = []
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        path = source / entry.name
        if os.path.isdir(path):  # False for dangling links and link loops, never raises
            if any(rules.image_like_suffix(n) for _, _, names in os.walk(path) for n in names):
                findings.append(warning("nested-images", path, "Subfolder not included.",
                                        "Pass it as another SRC to include it."))
        elif rules.is_hidden(entry.name):
            if rules.image_like_suffix(entry.name):
                findings.append(info("hidden-file", path, "Hidden file skipped."))
        elif path.suffix.lower() in accepted:
            problem = stat_problem(path)
            if problem:
                problem.message += " Not included."
                findings.append(problem)
            else:
                images.append(path)
        elif rules.image_like_suffix(entry.name):
            findings.append(warning("unsupported-format", path, "Not copied: sd-scripts cannot read this format.",
                                    "Add --format png to convert it."))
    return images


def _free_stem(stem: str, used: set[str]) -> str:
    # "-n" rather than "_n": extra "_" pieces could trigger sd-scripts' face-crop caption name rule
    candidate, n = stem, 2
    while candidate in used:
        candidate, n = f"{stem}-{n}", n + 1
    used.add(candidate)
    return candidate


def _note_trigger(plan: PreparePlan, caption: Path, token: str | None) -> None:
    if not token:
        return
    text = caption.read_bytes().decode("utf-8", errors="replace")
    if token not in text:
        plan.findings.append(warning("caption-lacks-trigger", caption, f"Caption does not contain {token!r}: a caption "
                                     "replaces the class tokens, so the trigger is not trained with this image.",
                                     f"kohya-wrap data captions {plan.out} add-trigger {token!r}"))


def apply_prepare(plan: PreparePlan, progress=None, workers: int | None = None) -> dict:
    """Create the layout the plan describes. Only ever writes under plan.out."""
    if plan.out.exists() and any(plan.out.iterdir()):
        raise DatasetError(f"{plan.out} is no longer empty; nothing was written.", hint="Choose an empty --out.")
    for folder in plan.folders:
        (plan.out / folder["path"]).mkdir(parents=True, exist_ok=True)
    done, total = 0, len(plan.actions)
    converts = [a for a in plan.actions if a.op == "convert"]
    for action in [a for a in plan.actions if a.op != "convert"]:
        _copy_or_link(action)
        done += 1
        if progress:
            progress(done, total)
    options = {"resize": plan.settings.resize, "fit": plan.settings.fit, "resample": plan.settings.resample,
               "flatten_rgb": plan.settings.flatten_rgb}
    failed = []
    for (source, dest, _), problem in zip([(str(a.src), str(a.dest), options) for a in converts],
                                         _convert_all([(str(a.src), str(a.dest), options) for a in converts], workers)):
        if problem:
            failed.append(error("convert-failed", source, f"Not converted ({problem}); nothing written for it.",
                                "Check it with `kohya-wrap data check`."))
            Path(dest).with_suffix(plan.settings.caption_extension).unlink(missing_ok=True)
        done += 1
        if progress:
            progress(done, total)
    plan.findings += failed
    write_json_atomic(plan.out / MANIFEST, plan.to_dict())
    return {"out": str(plan.out), "written": total - len(failed), "failed": len(failed), "folders": plan.folders}


def _copy_or_link(action: PrepareAction) -> None:
    if action.op == "link":
        os.symlink(action.src, action.dest)
    elif action.op == "copy-caption":
        write_bytes_atomic(action.dest, action.src.read_bytes())
    else:
        partial = action.dest.with_name(f".{action.dest.name}.partial")
        shutil.copy2(action.src, partial)
        os.replace(partial, action.dest)


def _convert_all(jobs: list, workers: int | None):
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) < 8:
        yield from map(imageops.convert_image, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=pool_context()) as pool:
        yield from pool.map(imageops.convert_image, jobs, chunksize=4)

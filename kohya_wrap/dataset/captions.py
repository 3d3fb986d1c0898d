"""Caption tools: plan edits (pure), then apply them to a prepared copy, or in place after a backup."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.dataset import rules
from kohya_wrap.dataset.prepare import MANIFEST
from kohya_wrap.dataset.scan import scan_dataset
from kohya_wrap.errors import DatasetError
from kohya_wrap.fileio import write_bytes_atomic, write_text_atomic


@dataclass
class Target:
    image: Path
    caption: Path | None  # the file sd-scripts reads today (None: no caption)
    class_tokens: str | None


@dataclass
class CaptionEdit:
    path: Path
    old: bytes | None  # None: the file is created
    new: str

    def to_dict(self) -> dict:
        old = None if self.old is None else decode_caption(self.old)
        return {"path": str(self.path), "old": old, "new": self.new, "created": self.old is None}


def targets(root: Path, caption_extension: str = ".txt") -> list[Target]:
    """Every image sd-scripts would train from root (any layout scan_dataset accepts; a prepared root's img/,
    never its regularisation images) with its caption."""
    result = scan_dataset(Path(root), caption_extension=caption_extension, with_reg=False)
    return [Target(image, caption, subset.class_tokens) for subset in result.subsets
            for image, caption in zip(subset.images, subset.captions)]


def decode_caption(data: bytes) -> str:
    """Lenient decode: UTF-8 (BOM dropped), else cp1252, else Latin-1; universal newlines."""
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _edit(target: Target, change) -> CaptionEdit | None:
    """Apply change(first_line) -> first_line to the caption's first line (the only one sd-scripts reads)."""
    if target.caption is None:
        return None
    old = target.caption.read_bytes()
    lines = decode_caption(old).split("\n")
    first = change(lines[0].strip())
    if first == lines[0].strip():
        return None
    return CaptionEdit(target.caption, old, "\n".join([first] + lines[1:]).rstrip("\n"))


def split_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def plan_add_trigger(items: list[Target], word: str) -> list[CaptionEdit]:
    """Put `word` first unless it is already one of the tags (idempotent)."""
    def change(text: str) -> str:
        return text if word in split_tags(text) else (f"{word}, {text}" if text else word)
    return [e for e in (_edit(t, change) for t in items) if e]


def plan_affix(items: list[Target], text: str, where: str) -> list[CaptionEdit]:
    """Prefix or suffix every caption with `text` unless it already starts/ends with it (idempotent)."""
    core = text.strip().strip(",").strip()

    def change(caption: str) -> str:
        if not caption:
            return core
        if where == "prefix":
            return caption if caption.startswith(core) else f"{core}, {caption}"
        return caption if caption.rstrip(", ").endswith(core) else f"{caption.rstrip(', ')}, {core}"
    return [e for e in (_edit(t, change) for t in items) if e]


def plan_fill(items: list[Target], source: str, caption_extension: str,
              class_tokens: str | None = None) -> list[CaptionEdit]:
    """Create captions for images that have none, from the class tokens or the file name."""
    edits, without_text = [], []
    for target in items:
        if target.caption is not None:
            continue
        if source == "filename":
            text = re.sub(r"[_\-]+", " ", target.image.stem).strip()
        else:
            text = class_tokens or target.class_tokens or ""
        if text:
            edits.append(CaptionEdit(rules.own_caption_path(target.image, caption_extension), None, text))
        else:
            without_text.append(target.image)
    if without_text:
        raise DatasetError(f"{len(without_text)} images without a caption have no class tokens to fill in "
                           f"(first: {without_text[0]}); nothing was changed.",
                           hint="Pass --class TEXT, or use --from filename.")
    return edits


def normalise_text(text: str, lowercase: bool = False, dedupe: bool = True) -> str:
    """One line of comma-separated tags: lines joined, whitespace collapsed, empty (and repeated) tags dropped."""
    tags = [" ".join(tag.split()) for line in text.split("\n") for tag in line.split(",")]
    tags = [tag.lower() if lowercase else tag for tag in tags if tag]
    if dedupe:
        seen, kept = set(), []
        for tag in tags:
            if tag.casefold() not in seen:
                seen.add(tag.casefold())
                kept.append(tag)
        tags = kept
    return ", ".join(tags)


def plan_normalise(items: list[Target], lowercase: bool = False, dedupe: bool = True) -> list[CaptionEdit]:
    edits = []
    for target in items:
        if target.caption is None:
            continue
        old = target.caption.read_bytes()
        new = normalise_text(decode_caption(old), lowercase, dedupe)
        if new.encode("utf-8") != old and new:
            edits.append(CaptionEdit(target.caption, old, new))
    return edits


def first_line(target: Target) -> str | None:
    """The stripped first line of the caption sd-scripts reads for this image (None: it has no caption)."""
    if target.caption is None:
        return None
    return decode_caption(target.caption.read_bytes()).split("\n")[0].strip()


def plan_first_line(target: Target, text: str, caption_extension: str) -> CaptionEdit | None:
    """Make `text` the first line of the image's own caption file, keeping its other lines; None when unchanged.
    A caption found under the face-crop fallback name (possibly shared) is left alone: the own file is created."""
    own = rules.own_caption_path(target.image, caption_extension)
    if target.caption is None or target.caption != own:
        return CaptionEdit(own, None, text)
    old = own.read_bytes()
    lines = decode_caption(old).split("\n")
    if lines[0].strip() == text:
        return None
    return CaptionEdit(own, old, "\n".join([text] + lines[1:]).rstrip("\n"))


def tag_frequencies(items: list[Target]) -> list[tuple[str, int]]:
    counts = Counter()
    for target in items:
        if target.caption is not None:
            first = decode_caption(target.caption.read_bytes()).split("\n")[0]
            counts.update(set(split_tags(first)))
    return counts.most_common()


def is_prepared_copy(root: Path) -> bool:
    root = Path(root).absolute()
    return any((folder / MANIFEST).is_file() for folder in [root, *list(root.parents)[:2]])


def apply_edits(edits: list[CaptionEdit], root: Path, *, in_place: bool = False,
                backup_dir: Path | None = None) -> Path | None:
    """Write the edits. Outside a prepared copy only with in_place, and only after a backup zip is written.
    Returns the backup path (None when none was needed)."""
    if not edits:
        return None
    backup = None
    if not is_prepared_copy(root):
        if not in_place:
            raise DatasetError(f"{root} is not a prepared copy: source folders are edited only with --in-place. "
                               "Nothing was changed.",
                               hint=f"Run `kohya-wrap data prepare {root} --out DEST ...` and edit DEST, "
                                    "or pass --in-place (a backup zip is written first).")
        backup = write_backup(edits, root, backup_dir or paths.cache_dir() / "caption-backups")
    for edit in edits:
        write_text_atomic(edit.path, edit.new)
    return backup


def write_backup(edits: list[CaptionEdit], root: Path, backup_dir: Path) -> Path:
    buffer = io.BytesIO()
    created = [str(e.path) for e in edits if e.old is None]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for edit in edits:
            if edit.old is not None:
                archive.writestr(str(edit.path).lstrip("/"), edit.old)
        archive.writestr("kohya-wrap-backup.json", json.dumps({"root": str(root), "created": created}, indent=2))
    stem = f"captions-{time.strftime('%Y%m%d-%H%M%S')}-{Path(root).name or 'root'}"
    target, n = Path(backup_dir) / f"{stem}.zip", 2
    while target.exists():  # two edits in one second must not overwrite the first backup
        target, n = Path(backup_dir) / f"{stem}-{n}.zip", n + 1
    write_bytes_atomic(target, buffer.getvalue())
    return target

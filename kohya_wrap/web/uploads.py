"""Uploaded dataset files: names made safe, sizes limited, images checked as images, zips unpacked without
leaving the staging folder (no '..', no absolute names, no symlinks). Every problem is reported at once and
nothing is kept when there is one."""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kohya_wrap.dataset import rules
from kohya_wrap.dataset.probe import image_facts
from kohya_wrap.errors import KohyaWrapError

CAPTION_SUFFIXES = (".txt", ".caption")
MAX_CAPTION_BYTES = 64 * 1024
MAX_DEPTH = 8
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DRIVE = re.compile(r"^[A-Za-z]:")


class UploadRefused(KohyaWrapError):
    """The upload breaks a rule; `problems` lists every one."""

    def __init__(self, problems: list[str], hint: str | None = None):
        count = len(problems)
        super().__init__(f"Upload refused, {count} problem{'s' if count != 1 else ''}:\n  - " + "\n  - ".join(problems),
                         hint=hint)
        self.problems = problems


def dataset_name(text: str | None) -> str:
    name = (text or "").strip()
    if not NAME.match(name):
        raise UploadRefused([f"dataset name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                             "letter or digit"])
    return name


def member_path(name: str) -> PurePosixPath | str:
    """The relative path an archive member or uploaded file may take, or the reason it may not."""
    if "\0" in name:
        return "name holds a NUL byte"
    name = name.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path"
    parts = [part for part in PurePosixPath(name).parts if part not in ("", ".")]
    if ".." in parts:
        return "path leaves the dataset folder ('..')"
    if not parts:
        return "empty name"
    if len(parts) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} folders"
    return PurePosixPath(*parts)


def ignorable(path: PurePosixPath) -> bool:
    """Files archivers add that are no part of a dataset (macOS resource forks, hidden files)."""
    return path.parts[0] == "__MACOSX" or any(part.startswith(".") for part in path.parts)


def file_problem(path: PurePosixPath, data: bytes) -> str | None:
    """Images must open and decode as images; captions must be small; nothing else is accepted."""
    if path.suffix in rules.IMAGE_EXTENSIONS:
        facts = image_facts(data, decode=True)
        if facts.get("bomb"):
            return "image too large to decode safely"
        if facts.get("open_error"):
            return "not an image (cannot be opened as one)"
        if facts.get("decode_error"):
            return f"damaged image ({facts['decode_error']})"
        return None
    if path.suffix.lower() in CAPTION_SUFFIXES:
        return f"caption over {MAX_CAPTION_BYTES // 1024} KB" if len(data) > MAX_CAPTION_BYTES else None
    return ("not an image or a caption (accepted: " + " ".join(sorted({e.lower() for e in rules.IMAGE_EXTENSIONS}))
            + " and " + " ".join(CAPTION_SUFFIXES) + ")")


@dataclass
class Staging:
    """A private folder the upload is written into before it becomes a dataset."""

    root: Path
    max_bytes: int
    max_files: int
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bytes: int = 0

    def add(self, name: str, data: bytes) -> None:
        path = member_path(name)
        if isinstance(path, str):
            self.problems.append(f"{name!r}: {path}")
            return
        if ignorable(path):
            self.skipped.append(str(path))
            return
        if len(self.written) >= self.max_files:
            self.problems.append(f"more than {self.max_files} files")
            return
        self.bytes += len(data)
        if self.bytes > self.max_bytes:
            self.problems.append(f"{path}: the upload is over {self.max_bytes // (1024 * 1024)} MB unpacked")
            return
        problem = file_problem(path, data)
        if problem:
            self.problems.append(f"{path}: {problem}")
            return
        self._write(path, data)

    def _write(self, path: PurePosixPath, data: bytes) -> None:
        target = self.root.joinpath(*path.parts)
        if not target.resolve().is_relative_to(self.root.resolve()):  # a folder of the upload cannot be a link
            self.problems.append(f"{path}: path leaves the dataset folder")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            self.problems.append(f"{path}: given twice")
            return
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self.written.append(str(path))

    def add_zip(self, archive, label: str) -> None:
        """Unpack a zip (a path or an open binary file) into the staging folder."""
        try:
            with zipfile.ZipFile(archive) as zipped:
                self._unzip(zipped)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError) as error:
            self.problems.append(f"{label}: not a readable zip file ({error})")

    def _unzip(self, zipped: zipfile.ZipFile) -> None:
        members = [info for info in zipped.infolist() if not info.is_dir()]
        if len(members) > self.max_files:
            self.problems.append(f"the zip holds {len(members)} files; at most {self.max_files}")
            return
        declared = sum(info.file_size for info in members)
        if declared > self.max_bytes - self.bytes:
            self.problems.append(f"the zip unpacks to {declared // (1024 * 1024)} MB; at most "
                                 f"{self.max_bytes // (1024 * 1024)} MB")
            return
        for info in members:
            if stat.S_ISLNK(info.external_attr >> 16):
                self.problems.append(f"{info.filename!r}: symbolic link (not unpacked)")
                continue
            with zipped.open(info) as member:
                data = member.read(info.file_size + 1)  # never more than it declared
            if len(data) > info.file_size:
                self.problems.append(f"{info.filename!r}: holds more data than its header says")
                continue
            self.add(info.filename, data)

    def refuse_if_problems(self) -> None:
        if self.problems:
            shutil.rmtree(self.root, ignore_errors=True)
            raise UploadRefused(self.problems, hint="nothing was kept; fix these files and upload again")
        if not self.written:
            shutil.rmtree(self.root, ignore_errors=True)
            raise UploadRefused(["no image or caption files in the upload"])

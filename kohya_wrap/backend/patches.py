"""Anchor-checked patches of sd-scripts (vendor/patches/*.patch): parse, plan, check, apply.

A patch file is a header of `# key: value` lines (why, file, required) and one or more hunks:
`@@@ anchor`, the exact upstream text expected, `@@@ replace`, its replacement, `@@@ end`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import BackendError
from kohya_wrap.fileio import write_bytes_atomic

APPLIED, NOT_APPLIED, PARTLY, ANCHOR_MISSING = "applied", "not applied", "partly applied", "anchor missing"
RESUME_PATCH = "0003-resume-keeps-step-count.patch"
KEPT, RESTARTS, UNKNOWN = "kept", "restarts", "unknown"  # what a checkout's step counter does on --resume


@dataclass(frozen=True)
class Hunk:
    anchor: str
    replace: str


@dataclass
class Patch:
    name: str
    file: str
    why: str
    required: bool
    hunks: list[Hunk] = field(default_factory=list)


@dataclass
class PatchStatus:
    patch: Patch
    status: str
    detail: str = ""

    def line(self) -> str:
        text = f"{self.patch.name}: {self.status} ({self.patch.file})"
        return text + (f": {self.detail}" if self.detail else "")


def patches_dir() -> Path:
    return paths.vendor_dir() / "patches"


def parse_patch(name: str, text: str) -> Patch:
    """Parse one patch file; BackendError if it is malformed."""
    header: dict[str, list[str]] = {}
    hunks, section, anchor, buffer = [], None, None, []
    for line in text.splitlines(keepends=True):
        marker = line.rstrip("\r\n")
        if marker in ("@@@ anchor", "@@@ replace", "@@@ end"):
            if section == "anchor":
                anchor = "".join(buffer)
            elif section == "replace":
                hunks.append(Hunk(anchor or "", "".join(buffer)))
            section, buffer = marker[4:], []
            if section == "end":
                section = None
        elif section:
            buffer.append(line)
        elif marker.startswith("# ") and ":" in marker:
            key, value = marker[2:].split(":", 1)
            header.setdefault(key.strip(), []).append(value.strip())
    if section or not hunks or "file" not in header or any(not h.anchor for h in hunks):
        raise BackendError(f"Patch {name} is malformed: it needs a '# file:' header and complete "
                           "'@@@ anchor' / '@@@ replace' / '@@@ end' sections")
    return Patch(name=name, file=header["file"][0], why=" ".join(header.get("why", [])),
                 required=header.get("required", ["yes"])[0].lower() in ("yes", "true"), hunks=hunks)


def load_patches(folder: Path | None = None) -> list[Patch]:
    folder = Path(folder or patches_dir())
    files = sorted(folder.glob("*.patch")) if folder.is_dir() else []
    return [parse_patch(path.name, path.read_text(encoding="utf-8")) for path in files]


def hunk_state(text: str, hunk: Hunk) -> str:
    if hunk.replace in text:
        return APPLIED
    count = text.count(hunk.anchor)
    return NOT_APPLIED if count == 1 else ANCHOR_MISSING


def _read(root: Path, name: str) -> str | None:
    try:
        return (root / name).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def plan_patches(root: Path, patches: list[Patch] | None = None) -> list[PatchStatus]:
    """Status of every patch against a checkout; reads, never writes."""
    result = []
    for patch in load_patches() if patches is None else patches:
        text = _read(Path(root), patch.file)
        if text is None:
            result.append(PatchStatus(patch, ANCHOR_MISSING, f"{patch.file} is missing or unreadable"))
            continue
        states = [hunk_state(text, hunk) for hunk in patch.hunks]
        if ANCHOR_MISSING in states:
            missing = patch.hunks[states.index(ANCHOR_MISSING)].anchor.strip().splitlines()[0]
            result.append(PatchStatus(patch, ANCHOR_MISSING, f"expected text not found: {missing!r}"))
        elif all(state == APPLIED for state in states):
            result.append(PatchStatus(patch, APPLIED))
        else:
            result.append(PatchStatus(patch, NOT_APPLIED if APPLIED not in states else PARTLY))
    return result


def check_patches(statuses: list[PatchStatus]) -> None:
    """Refuse loudly if any patch cannot be applied cleanly."""
    broken = [status for status in statuses if status.status == ANCHOR_MISSING]
    if broken:
        lines = "\n  ".join(status.line() for status in broken)
        raise BackendError(f"{len(broken)} patch(es) do not fit this sd-scripts checkout:\n  {lines}",
                           hint="the checkout is not at the pinned commit or was edited; run "
                                "`kohya-wrap backend install` to get the pinned commit")


def apply_patches(root: Path, statuses: list[PatchStatus]) -> list[str]:
    """Apply every patch not yet applied; returns the names applied. Checks all before writing any."""
    check_patches(statuses)
    applied = []
    for status in statuses:
        if status.status == APPLIED:
            continue
        target = Path(root) / status.patch.file
        text = target.read_bytes().decode("utf-8")
        for hunk in status.patch.hunks:
            if hunk_state(text, hunk) == NOT_APPLIED:
                text = text.replace(hunk.anchor, hunk.replace, 1)
        _write_keep_mode(target, text)
        applied.append(status.patch.name)
    return applied


def revert_patches(root: Path, statuses: list[PatchStatus]) -> list[str]:
    """Put the upstream text back for every (partly) applied patch; returns the names reverted."""
    reverted = []
    for status in statuses:
        if status.status not in (APPLIED, PARTLY):
            continue
        target = Path(root) / status.patch.file
        text = target.read_bytes().decode("utf-8")
        for hunk in status.patch.hunks:
            if hunk_state(text, hunk) == APPLIED:
                text = text.replace(hunk.replace, hunk.anchor, 1)
        _write_keep_mode(target, text)
        reverted.append(status.patch.name)
    return reverted


def _write_keep_mode(target: Path, text: str) -> None:
    mode = target.stat().st_mode
    write_bytes_atomic(target, text.encode("utf-8"))
    os.chmod(target, mode)


def resume_counting(root: Path) -> str:
    """KEPT: this checkout keeps counting from the state's step on --resume (our patch 0003 is applied);
    RESTARTS: it is sd-scripts' own text, which starts again at step 0; UNKNOWN: not that file at all."""
    patch = next((p for p in load_patches() if p.name == RESUME_PATCH), None)
    if patch is None:
        return UNKNOWN
    [status] = plan_patches(root, [patch])
    return {APPLIED: KEPT, NOT_APPLIED: RESTARTS}.get(status.status, UNKNOWN)


def upstream_text(root: Path, name: str, patches: list[Patch] | None = None) -> str | None:
    """A checkout's file with every hunk of our patches that is applied put back to sd-scripts' text."""
    text = _read(Path(root), name)
    if text is None:
        return None
    for patch in load_patches() if patches is None else patches:
        if patch.file == name:
            for hunk in patch.hunks:
                text = text.replace(hunk.replace, hunk.anchor, 1)
    return text


def explains_change(root: Path, name: str, original: bytes, patches: list[Patch] | None = None) -> bool:
    """True if the file differs from `original` only by our applied patches."""
    patches = load_patches() if patches is None else patches
    if not any(patch.file == name for patch in patches):
        return False
    text = upstream_text(root, name, patches)
    return text is not None and text.encode("utf-8") == original

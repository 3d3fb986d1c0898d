"""The pinned sd-scripts commit (vendor/sd-scripts.toml) and the git blob ids that identify it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.backend.patches import upstream_text
from kohya_wrap.errors import BackendError
from kohya_wrap.tomlcompat import tomllib

PIN_FILE = "sd-scripts.toml"


@dataclass(frozen=True)
class Pin:
    url: str
    commit: str
    entry_script: str
    requirements_file: str = "requirements.txt"
    notes: str = ""
    fingerprint: dict[str, str] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return self.commit[:9]


def load_pin(vendor_dir: Path | None = None) -> Pin:
    """Read the pin from vendor/sd-scripts.toml."""
    path = Path(vendor_dir or paths.vendor_dir()) / PIN_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        upstream = data["upstream"]
        return Pin(
            url=upstream["url"],
            commit=upstream["commit"],
            entry_script=upstream["entry_script"],
            requirements_file=data.get("requirements", {}).get("file", "requirements.txt"),
            notes=data.get("requirements", {}).get("notes", "").strip(),
            fingerprint=dict(data.get("fingerprint", {})),
        )
    except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
        raise BackendError(f"Cannot read the sd-scripts pin {path}: {error}",
                           hint="reinstall kohya-wrap; the vendor folder ships with it") from None


def git_blob_id(data: bytes) -> str:
    """The id git gives a file's content (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fingerprint_mismatches(root: Path, pin: Pin) -> list[str]:
    """Fingerprinted files whose content differs from the pin (missing files included); a file that differs only
    by our own applied patches (vendor/patches) matches."""
    bad = []
    for name, blob in pin.fingerprint.items():
        text = upstream_text(Path(root), name)
        if text is None or git_blob_id(text.encode("utf-8")) != blob:
            bad.append(name)
    return bad

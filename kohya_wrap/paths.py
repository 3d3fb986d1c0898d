"""The only module that knows where things live: home, runs, cache, shipped templates."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent


def _shipped(name: str) -> Path:
    # A source checkout / editable install has the folder beside the package; a wheel carries it in _data.
    in_checkout = SOURCE_ROOT / name
    if in_checkout.is_dir():
        return in_checkout
    return PACKAGE_DIR / "_data" / name


def home() -> Path:
    """kohya-wrap's own state folder (registry, backend pin, settings)."""
    return Path(os.environ.get("KOHYA_WRAP_HOME") or Path.home() / ".kohya-wrap").expanduser()


def runs_dir() -> Path:
    """Where job folders are created unless a command says otherwise."""
    return Path(os.environ.get("KOHYA_WRAP_RUNS") or home() / "runs").expanduser()


def cache_dir() -> Path:
    """Caches that can be rebuilt: tokenizers, check results, smoke-test model."""
    return Path(os.environ.get("KOHYA_WRAP_CACHE") or home() / "cache").expanduser()


def templates_dir() -> Path:
    return _shipped("templates")


def presets_dir() -> Path:
    return templates_dir() / "presets"


def example_dataset_dir() -> Path:
    return templates_dir() / "example-dataset"


def schema_dir() -> Path:
    return _shipped("datasets_schema")


def vendor_dir() -> Path:
    return _shipped("vendor")


def args_table_path() -> Path:
    """Table of sd-scripts' own arguments at the pinned commit."""
    return schema_dir() / "sd_scripts_args.json"


def tokenizer_cache_dir() -> Path:
    """Offline CLIP tokenizers that every rendered job points sd-scripts at."""
    return cache_dir() / "tokenizers"


def writable_dir(path: Path, what: str) -> Path:
    """PATH as a folder this process can write into (made when missing), else a clear error that names
    WHAT the folder is (e.g. "KOHYA_WRAP_HOME", "the runs folder (--runs)")."""
    path = Path(path).expanduser()
    hint = f"point {what} at a writable folder"
    blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        at = "" if blocker == path else f" ({blocker} is a file)"
        raise KohyaWrapError(f"{what} is {path}, but that is not a folder{at}.", hint=hint)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KohyaWrapError(f"Cannot create {what} {path}: {error.strerror or error}.", hint=hint) from None
    if read_only_filesystem(path):
        raise KohyaWrapError(f"{what} {path} is on a read-only filesystem.", hint=hint)
    if not os.access(path, os.W_OK | os.X_OK):
        raise KohyaWrapError(f"{what} {path} is not writable by this user.", hint=hint)
    return path


def read_only_place(path: Path) -> bool:
    """Whether PATH lies on a read-only filesystem or cannot be written by this user."""
    return read_only_filesystem(path) or not os.access(path, os.W_OK)


def read_only_filesystem(path: Path) -> bool:
    """Whether PATH lies on a filesystem mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def is_disk_error(error: BaseException) -> bool:
    """A write that failed because of the place, not the data: disk full, quota, read-only, no permission."""
    return isinstance(error, OSError) and error.errno in DISK_ERRNOS


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
DISK_ERRNOS = DISK_FULL_ERRNOS | READ_ONLY_ERRNOS

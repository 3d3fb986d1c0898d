"""The only module that knows where things live: home, runs, cache, shipped templates."""

from __future__ import annotations

import os
from pathlib import Path

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

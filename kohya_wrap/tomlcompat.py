"""TOML reading (tomllib or tomli) and writing (tomli_w) behind one import."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

import tomli_w

TOMLDecodeError = tomllib.TOMLDecodeError


def loads(text: str) -> dict:
    return tomllib.loads(text)


def dumps(data: dict) -> str:
    return tomli_w.dumps(data)

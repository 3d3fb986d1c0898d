"""Parse `key.path=value` and `~key.path` overrides and apply them to a nested config dict."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kohya_wrap.errors import ConfigIssue
from kohya_wrap.tomlcompat import TOMLDecodeError, loads

KEY_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True)
class Override:
    """One override as typed by the user."""

    text: str
    key: str
    value: object = None
    remove: bool = False

    @property
    def source(self) -> str:
        return f"override {self.text!r}"


def parse_value(raw: str) -> object:
    """A TOML value if it parses as one (1e-4, true, [1, 2], "x"), else the plain string."""
    try:
        return loads(f"v = {raw}")["v"]
    except TOMLDecodeError:
        return raw


def parse_override(text: str) -> Override | ConfigIssue:
    if text.startswith("~"):
        key = text[1:]
        if not KEY_PATH.match(key):
            return ConfigIssue(key or text, "expected ~section.key to remove a key", f"override {text!r}")
        return Override(text=text, key=key, remove=True)
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not KEY_PATH.match(key):
        return ConfigIssue(key or text, "expected section.key=value (e.g. network.network_dim=16)", f"override {text!r}")
    return Override(text=text, key=key, value=parse_value(raw.strip()))


def parse_overrides(texts) -> tuple[list[Override], list[ConfigIssue]]:
    parsed, issues = [], []
    for text in texts:
        result = parse_override(text)
        (issues if isinstance(result, ConfigIssue) else parsed).append(result)
    return parsed, issues


def apply_override(data: dict, override: Override) -> ConfigIssue | None:
    """Set or remove one key in place; the containing tables are created as needed."""
    *parents, leaf = override.key.split(".")
    table = data
    for part in parents:
        child = table.setdefault(part, {}) if not override.remove else table.get(part)
        if not isinstance(child, dict):
            if override.remove:
                return ConfigIssue(override.key, "cannot remove: no such key", override.source)
            return ConfigIssue(override.key, f"{part!r} is a value, not a table", override.source)
        table = child
    if override.remove:
        if leaf not in table:
            return ConfigIssue(override.key, "cannot remove: no such key", override.source)
        del table[leaf]
    else:
        table[leaf] = override.value
    return None

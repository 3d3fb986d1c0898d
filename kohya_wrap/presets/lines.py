"""Line numbers of `key = value` entries in a preset, so errors can say preset.toml:LINE."""

from __future__ import annotations

import re

HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?$")
ENTRY = re.compile(r"^\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")


def key_lines(text: str) -> dict[str, int]:
    """Map 'section.key' -> 1-based line number for simple [section] / key = value presets."""
    found: dict[str, int] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = HEADER.match(line)
        if header:
            section = header.group(1).replace(" ", "")
            continue
        entry = ENTRY.match(line)
        if entry:
            key = entry.group(1).replace(" ", "")
            found[f"{section}.{key}" if section else key] = number
    return found

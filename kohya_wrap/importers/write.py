"""Write an import as a kohya-wrap preset TOML: a header of what happened, then each value with its source."""

from __future__ import annotations

import re

from kohya_wrap.config.schema import ARG_SECTIONS, WRAPPER_SECTIONS
from kohya_wrap.importers.record import Imported
from kohya_wrap.tomlcompat import dumps

ORDER = ["meta", "dataset", *ARG_SECTIONS, *(name for name in WRAPPER_SECTIONS if name not in ("meta", "dataset"))]
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
WIDTH = 116


def render_preset(imp: Imported, preset_name: str, file_name: str = "THIS.toml") -> str:
    """The preset text: header comment block, [meta], then each section with provenance comments."""
    meta = {"name": preset_name, "description": imp.description[:200], "tags": ["imported", imp.fmt]}
    lines = header(imp, file_name) + ["", "[meta]"]
    lines += [_entry(key, value, "kohya-wrap: from the source's name") for key, value in meta.items()]
    by_section: dict[str, list] = {}
    for value in imp.values.values():
        by_section.setdefault(value.section, []).append(value)
    for section in ORDER:
        if section in by_section and section != "meta":
            lines += ["", f"[{section}]"] + [_entry(v.key, v.value, v.source) for v in by_section[section]]
    return "\n".join(lines) + "\n"


def header(imp: Imported, file_name: str = "THIS.toml") -> list[str]:
    lines = [f"# Imported by kohya-wrap from {imp.label} {imp.source.name}", f"#   ({imp.source})"]
    if imp.carried:
        lines += [f"# Carried over as they were ({len(imp.carried)}):"]
        lines += _wrapped(", ".join(value.target for value in imp.carried), "#   ")
    if imp.translated:
        lines += [f"# Translated ({len(imp.translated)}):"]
        for value in imp.translated:
            lines += _wrapped(f"{value.target} = {_inline(value.value)} <- {value.source}: {value.how}", "#   - ", "#     ")
    if imp.dropped:
        lines += [f"# Dropped ({len(imp.dropped)}):"]
        for reason, fields in _group_drops(imp).items():
            lines += _wrapped(f"{', '.join(fields)}: {reason}", "#   - ", "#     ")
    if imp.notes:
        lines += ["# Notes:"] + [line for note in imp.notes for line in _wrapped(note, "#   - ", "#     ")]
    lines += [f"# Check it, then train: kohya-wrap config validate {file_name}",
              f"#   kohya-wrap train {file_name} --dataset DIR --model BASE.safetensors"]
    return lines


def _group_drops(imp: Imported) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for drop in imp.dropped:
        name = drop.field.rsplit(" ", 1)[-1]
        shown = name if drop.value in (None, "", "(hidden)") else f"{name} = {_inline(drop.value)}"
        grouped.setdefault(drop.reason, []).append(shown)
    return grouped


def _entry(key: str, value, source: str) -> str:
    name = key if BARE_KEY.match(key) else dumps({"k": key}).split(" = ", 1)[1].strip()
    return f"{name} = {_inline(value)}  # {source}"


def _inline(value) -> str:
    """A TOML value on one line (tomli_w puts arrays on several lines, which leaves no room for a comment)."""
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    return dumps({"v": value}).split(" = ", 1)[1].strip()


def _wrapped(text: str, first: str, rest: str | None = None) -> list[str]:
    rest = first if rest is None else rest
    words, lines, line = text.replace("\n", " ").split(" "), [], first
    for word in words:
        if len(line) + len(word) + 1 > WIDTH and line.strip("# -"):
            lines.append(line.rstrip())
            line = rest
        line += word + " "
    lines.append(line.rstrip())
    return lines

"""sd-scripts' own raise/assert sites and the functions they sit in (datasets_schema/sd_scripts_raise_sites.json)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from kohya_wrap import paths

TABLE_NAME = "sd_scripts_raise_sites.json"


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    function: str | None
    exception: str | None
    english: str | None
    pattern: re.Pattern | None
    logged_pattern: re.Pattern | None
    kind: str | None


@dataclass(frozen=True)
class Table:
    commit: str | None
    sites: tuple[Site, ...]
    by_line: dict  # (file, line) -> Site
    scopes: dict  # (file, function) -> kinds of the functions of that name ({} for none)
    scope_lines: dict  # file -> [(start, end, kind, function)]


def _compile(pattern: str | None) -> re.Pattern | None:
    return re.compile(pattern, re.S) if pattern else None


@functools.lru_cache(maxsize=1)
def table() -> Table:
    """The table at the pinned commit (read once per process)."""
    data = json.loads((paths.schema_dir() / TABLE_NAME).read_text(encoding="utf-8"))
    sites = tuple(Site(s["file"], s["line"], s["function"], s["exception"], s["english"], _compile(s["pattern"]),
                       _compile(s["logged_pattern"]), s["kind"]) for s in data["sites"])
    scopes: dict = {}
    scope_lines: dict = {}
    for scope in data["scopes"]:
        scopes.setdefault((scope["file"], scope["function"]), set()).add(scope["kind"])
        scope_lines.setdefault(scope["file"], []).append((scope["start"], scope["end"], scope["kind"], scope["function"]))
    return Table(data.get("commit"), sites, {(s.file, s.line): s for s in sites}, scopes, scope_lines)


def site_at(file: str, line: int, exception: str | None) -> Site | None:
    """The raise/assert at this line of the pinned commit, if the exception agrees (a bare re-raise agrees)."""
    site = table().by_line.get((file, line))
    if site is None or site.exception not in (None, exception.rsplit(".", 1)[-1]):
        return None
    return site


def site_for_message(english: str, function: str | None = None) -> Site | None:
    """The site whose English message this is (any commit): a whole match first, then the longest prefix match;
    among equals, one in the same function."""
    best, best_score = None, (-1, -1, -1)
    for site in table().sites:
        if site.pattern is None:
            continue
        whole = site.pattern.fullmatch(english) is not None
        if not whole and site.pattern.match(english) is None:
            continue
        score = (int(whole), int(site.function == function), len(site.pattern.pattern))
        if score > best_score:
            best, best_score = site, score
    return best


def scope_kind(file: str, line: int, function: str) -> str | None:
    """What a failure inside this function is about: the innermost listed function around the line at the pin
    (its own entry when it has one), else the kind of every function of that name in the file."""
    if function == "<module>":
        return None
    around = sorted((end - start, kind, name) for start, end, kind, name in table().scope_lines.get(file, ())
                    if start <= line <= end)
    own = [kind for _, kind, name in around if name == function]
    if own or (around and (file, function) not in table().scopes):
        return (own or [around[0][1]])[0]
    kinds = table().scopes.get((file, function)) or set()
    return next(iter(kinds)) if len(kinds) == 1 else None

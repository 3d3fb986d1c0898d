"""Content-hash cache of per-file facts: a stat match skips the file, a hash match skips the decode."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kohya_wrap.fileio import write_text_atomic

CACHE_VERSION = 1  # entries of an older, shorter stat key simply miss


def stat_key(st: os.stat_result) -> list[int]:
    # ctime too: a file rewritten in place with its mtime put back (touch -r, rsync -t) has a new ctime,
    # which no user can set back
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


class FactCache:
    """by_path: path -> [size, mtime_ns, inode, ctime_ns, hash]; by_hash: hash -> facts (path-independent)."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self.by_path: dict[str, list] = {}
        self.by_hash: dict[str, dict] = {}
        self.hits = 0
        self.dirty = False
        if self.path and self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # a damaged cache is only a slower check: start empty, it is rewritten at the end
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION:
            self.by_path = data.get("by_path", {})
            self.by_hash = data.get("by_hash", {})

    def lookup(self, path: str, key: list[int], decode: bool) -> dict | None:
        """Facts for an unchanged file (same size, mtime, inode, ctime) that satisfy the decode level asked for."""
        entry = self.by_path.get(path)
        if not entry or entry[:-1] != key:
            return None
        facts = self.by_hash.get(entry[-1])
        if facts is None or not sufficient(facts, decode):
            return None
        self.hits += 1
        return facts

    def known_hashes(self, decode: bool) -> list[str]:
        return [f"{facts.get('kind')}:{digest}" for digest, facts in self.by_hash.items() if sufficient(facts, decode)]

    def put(self, path: str, key: list[int], facts: dict) -> None:
        digest = facts.get("hash")
        if digest is None:
            return  # read errors are not cached: they must be re-checked every time
        self.dirty = True
        self.by_path[path] = [*key, digest]
        stored = self.by_hash.get(digest)
        if stored is None or not sufficient(stored, facts.get("decoded", False)):
            self.by_hash[digest] = {k: v for k, v in facts.items() if k != "hash"} | {"hash": digest}

    def save(self, keep_paths: set[str]) -> None:
        """Write atomically, keeping only the files of this check (the cache never grows without bound)."""
        if not self.path:
            return
        by_path = {p: e for p, e in self.by_path.items() if p in keep_paths}
        if not self.dirty and len(by_path) == len(self.by_path):
            return  # a re-check of an unchanged set writes nothing
        used = {entry[-1] for entry in by_path.values()}
        by_hash = {h: f for h, f in self.by_hash.items() if h in used}
        data = {"version": CACHE_VERSION, "by_path": by_path, "by_hash": by_hash}
        write_text_atomic(self.path, json.dumps(data, separators=(",", ":")))


def sufficient(facts: dict, decode: bool) -> bool:
    """Caption facts never depend on decoding; image facts from a header-only pass do not answer a full one."""
    return facts.get("kind") != "image" or facts.get("decoded", False) or not decode


def cache_path_for(directory) -> Path:
    """The check cache of one dataset folder (shared by `data check` and the runner's pre-flight)."""
    import hashlib

    from kohya_wrap import paths

    key = hashlib.sha1(str(Path(directory).expanduser().absolute()).encode()).hexdigest()[:16]
    return paths.cache_dir() / "check" / f"{key}.json"

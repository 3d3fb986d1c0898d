"""Resume journal: each result the captioner returned, appended as it arrives, so a rerun captions only the rest.

One file per (dataset, captioner, model folder, captioner options) under the cache; a result counts only while
its image's size and mtime are unchanged. Append-only JSON lines: a torn last line from a crash is ignored.
The journal is removed when a run completes, so the next run starts fresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from kohya_wrap import paths


def _stamp(image: Path) -> list[int] | None:
    try:
        info = os.stat(image)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def for_run(cls, root: Path, captioner: str, model_dir: Path, options: dict) -> Journal:
        key = json.dumps({"root": str(Path(root).absolute()), "captioner": captioner,
                          "model_dir": str(Path(model_dir).absolute()), "options": options}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return cls(paths.cache_dir() / "captioning" / f"{Path(root).name or 'root'}-{digest}.jsonl")

    def load(self) -> dict[str, dict]:
        """image path -> {"text", "tags"} for every journaled result whose image is unchanged."""
        results: dict[str, dict] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return results
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: that image is captioned again
            if isinstance(entry, dict) and entry.get("stamp") == _stamp(Path(entry.get("image", ""))):
                results[entry["image"]] = {"text": entry.get("text", ""), "tags": entry.get("tags") or []}
        return results

    def append(self, image: str, result: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"image": image, "stamp": _stamp(Path(image)), "text": result.get("text", ""),
                 "tags": result.get("tags") or []}
        with open(self.path, "a", encoding="utf-8") as handle:  # one line per result: a kill loses at most one
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

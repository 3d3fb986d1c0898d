"""What an auto-captioning run did: written, skipped, empty, too long for the token limit, tag frequency."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from kohya_wrap.captioning.compose import Style, compose
from kohya_wrap.dataset.tokens import TokenCounter

TOP_TAGS = 30


@dataclass
class Tally:
    images: int
    skipped: int  # already captioned, left alone (fill)
    reused: int  # results from an interrupted earlier run's journal
    started: float
    token_limit: int = 75
    captioned: int = 0  # new results from the captioner in this run
    images_per_s: float | None = None  # the child's own rate (model loading excluded)
    failed: list[dict] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    too_long: list[dict] = field(default_factory=list)
    tags: Counter = field(default_factory=Counter)
    composed: int = 0
    without_text: int = 0
    _counter: TokenCounter | None = None

    def add(self, target, result: dict, existing: str | None, style: Style) -> str:
        """Compose one image's caption line and count it; returns the line ('' when there is nothing to write)."""
        line = compose(result, existing, style)
        self.composed += 1
        if line.empty:
            self.empty.append(str(target.image))
        self.tags.update(list(dict.fromkeys(line.generated)))  # once per image; ties keep first-seen order
        if not line.text:
            self.without_text += 1
            return ""
        tokens = self.counter().count(line.text)
        if tokens > self.token_limit:
            self.too_long.append({"image": str(target.image), "tokens": tokens})
        return line.text

    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = TokenCounter.load()
        return self._counter

    def summary(self, request, edits: list, backup) -> dict:
        created = sum(1 for edit in edits if edit.old is None)
        return {
            "root": str(request.root), "mode": request.style.mode, "dry_run": request.dry_run,
            "style": request.style.to_dict(), "images": self.images, "skipped": self.skipped,
            "captioned": self.captioned, "reused": self.reused, "failed": self.failed, "empty": self.empty,
            "planned": len(edits), "written": 0 if request.dry_run else len(edits),
            "created": created, "edited": len(edits) - created,
            "unchanged": self.composed - len(edits) - self.without_text, "without_text": self.without_text,
            "token_limit": self.token_limit, "tokens_exact": self.counter().exact, "too_long": self.too_long,
            "tag_frequency": [{"tag": tag, "count": n} for tag, n in self.tags.most_common(TOP_TAGS)],
            "backup": str(backup) if backup else None, "seconds": round(time.monotonic() - self.started, 2),
            "images_per_s": self.images_per_s, "edits": [edit.to_dict() for edit in edits],
        }

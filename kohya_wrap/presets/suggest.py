"""'Did you mean ...?' suggestions for misspelled names."""

from __future__ import annotations

import difflib


def closest(word: str, candidates) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return matches[0] if matches else None

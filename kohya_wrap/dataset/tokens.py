"""Count CLIP BPE tokens of a caption the way SDXL's tokenizers split it (needs only merges.txt)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from kohya_wrap import paths

CLIP_L_FOLDER = "openai_clip-vit-large-patch14"
# The CLIP pre-tokenizer pattern (contractions, letter runs, single digits, other non-space runs).
_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
# Fallback for an interpreter without the `regex` module: \w minus digits/underscore approximates \p{L}.
_FALLBACK = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+"""


def _compile():
    try:
        import regex

        return regex.compile(_PATTERN, regex.IGNORECASE)
    except ImportError:
        return re.compile(_FALLBACK, re.IGNORECASE)


def _byte_alphabet() -> dict[int, str]:
    """GPT-2/CLIP byte-to-character table: printable Latin-1 bytes map to themselves, the rest above 255."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for byte in range(256):
        if byte in keep:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def find_merges(tokenizer_dir: Path | None = None) -> Path | None:
    """merges.txt of the CLIP-L tokenizer: in tokenizer_dir, its CLIP-L child, or the shared tokenizer cache."""
    roots = [Path(tokenizer_dir)] if tokenizer_dir else []
    roots.append(paths.tokenizer_cache_dir())
    for root in roots:
        for candidate in (root / "merges.txt", root / CLIP_L_FOLDER / "merges.txt"):
            if candidate.is_file():
                return candidate
    return None


class TokenCounter:
    """exact=True when the BPE merges were found; otherwise counts pre-tokens (a lower bound)."""

    def __init__(self, merges_file: Path | None = None):
        self.exact = merges_file is not None
        self.ranks: dict[tuple[str, str], int] = {}
        if merges_file:
            lines = Path(merges_file).read_text(encoding="utf-8").splitlines()
            pairs = [tuple(line.split()) for line in lines if line and not line.startswith("#version")]
            self.ranks = {pair: rank for rank, pair in enumerate(pairs) if len(pair) == 2}
        self.pattern = _compile()
        self.alphabet = _byte_alphabet()
        self._pieces = lru_cache(maxsize=65536)(self._bpe_count)

    @classmethod
    def load(cls, tokenizer_dir: Path | None = None) -> TokenCounter:
        return _cached_counter(find_merges(tokenizer_dir))

    def count(self, text: str) -> int:
        text = " ".join(_fix_text(text).split()).lower()
        words = self.pattern.findall(text)
        if not self.exact:
            return len(words)
        return sum(self._pieces("".join(self.alphabet[b] for b in word.encode("utf-8"))) for word in words)

    def _bpe_count(self, word: str) -> int:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            ranked = [(self.ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            ranked = [(rank, i) for rank, i in ranked if rank is not None]
            if not ranked:
                break
            best = min(ranked)[0]
            first, second = next((parts[i], parts[i + 1]) for rank, i in ranked if rank == best)
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return len(parts)


@lru_cache(maxsize=4)
def _cached_counter(merges_file: Path | None) -> TokenCounter:
    """Merges parse once per process; a re-check should not pay for it again."""
    return TokenCounter(merges_file)


@lru_cache(maxsize=1)
def _ftfy():
    try:
        import ftfy  # present in sd-scripts' environment; its tokenizer applies it before BPE
    except ImportError:
        return None
    return ftfy


def _fix_text(text: str) -> str:
    ftfy = _ftfy()
    return ftfy.fix_text(text) if ftfy else text

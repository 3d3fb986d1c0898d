"""Parser throughput on a large log built by repeating the real captured sd-scripts output, against a naive parser.

Run:  python bench/bench_parse.py [--mb 64] [--repeat 2]
Prints MB/s for kohya-wrap's LogParser (fed in 64 KiB chunks, as the runner feeds it) and for two naive approaches
(decode everything, split on \\r and \\n, then try every pattern on every piece: searched anywhere, or matched at
the start), the ratios, and writes the numbers to bench/results/parse.txt.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kohya_wrap.logs.messages import PATTERNS  # noqa: E402
from kohya_wrap.logs.parse import LogParser  # noqa: E402
from kohya_wrap.logs.stream import BAR_RE  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SOURCES = sorted(FIXTURES.glob("sdxl-cpu-run*/**/*.log"))
# The naive parser tries each of the parser's patterns on its own, searched anywhere in each piece.
NAIVE_PATTERNS = [BAR_RE] + [re.compile(pattern) for pattern in PATTERNS]


def build_log(megabytes: int) -> bytes:
    """The real logs (both streams of every captured run) repeated until the size is reached."""
    unit = b"".join(path.read_bytes() for path in SOURCES)
    copies = max(1, (megabytes << 20) // len(unit))
    return unit * copies


def ours(data: bytes, chunk: int = 1 << 16) -> int:
    parser = LogParser()
    count = 0
    for pos in range(0, len(data), chunk):
        count += len(parser.feed(data[pos:pos + chunk]))
    return count + len(parser.finish())


def naive_search(data: bytes) -> int:
    """A grep-like script: every pattern searched anywhere in every piece."""
    count = 0
    for piece in re.split(r"[\r\n]", data.decode("utf-8", "replace")):
        for pattern in NAIVE_PATTERNS:
            if pattern.search(piece):
                count += 1
    return count


def naive_match(data: bytes) -> int:
    """A tidier script: every pattern matched at the start of each stripped piece."""
    count = 0
    for piece in re.split(r"[\r\n]", data.decode("utf-8", "replace")):
        piece = piece.strip()
        for pattern in NAIVE_PATTERNS:
            if pattern.match(piece):
                count += 1
    return count


def best_seconds(function, data: bytes, repeat: int) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(data)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--mb", type=int, default=64, help="size of the synthetic log in MiB")
    options.add_argument("--repeat", type=int, default=2, help="runs of each parser; the best time counts")
    args = options.parse_args()
    data = build_log(args.mb)
    size_mb = len(data) / 1e6
    ours_s, events = best_seconds(ours, data, args.repeat)
    search_s, found = best_seconds(naive_search, data, args.repeat)
    match_s, matched = best_seconds(naive_match, data, args.repeat)
    redraws, newlines = data.count(b"\r"), data.count(b"\n")
    lines = [
        f"bench_parse: {size_mb:.1f} MB log = {len(SOURCES)} real sd-scripts logs repeated "
        f"({redraws} tqdm redraws, {newlines} lines)",
        f"machine: {platform.machine()}, Python {platform.python_version()}, best of {args.repeat}",
        f"LogParser (64 KiB chunks, incremental): {ours_s:6.2f} s  {size_mb / ours_s:7.1f} MB/s  ({events} events)",
        f"naive, every pattern searched per piece: {search_s:6.2f} s  {size_mb / search_s:7.1f} MB/s  ({found} hits)",
        f"naive, every pattern matched per piece:  {match_s:6.2f} s  {size_mb / match_s:7.1f} MB/s  ({matched} hits)",
        f"ratio LogParser / naive-search: {search_s / ours_s:.2f}x   LogParser / naive-match: {match_s / ours_s:.2f}x",
        "(the naive parsers only find matches: no rich-record joining, no step de-duplication, no live output)",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = ROOT / "bench" / "results" / "parse.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

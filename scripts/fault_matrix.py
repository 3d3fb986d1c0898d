"""Run the fault suite (tests/faults) and a 30,000-string TOML fuzz, and print the fault matrix: each case,
what happened, whether the record held; counts per category.

    python scripts/fault_matrix.py [--fuzz 30000] [--markdown] [-- extra pytest args]

Set KOHYA_WRAP_TEST_PG_URL (`. .ci/postgres.sh`) to run the queue cases on PostgreSQL too. Run as root to
test disk-full and read-only places on real tmpfs mounts (else those cases skip and say so).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_suite(extra: list[str]) -> tuple[list[dict], float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "matrix.jsonl"
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults", *extra],
                       cwd=REPO, env={**os.environ, "FAULT_MATRIX_OUT": str(out)}, check=False,
                       stdout=subprocess.DEVNULL)
        took = time.monotonic() - started
        lines = out.read_text().splitlines() if out.is_file() else []
    return [json.loads(line) for line in lines], took


def run_fuzz(count: int) -> dict:
    """COUNT hostile strings x 3 places (a scalar argument, a list item, a dataset path), each refused or
    read back by sd-scripts' own reader exactly as written."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("KOHYA_WRAP_HOME", tempfile.mkdtemp(prefix="kw-fuzz-"))
    from tests.faults.test_hostile import check_against_sd_scripts_reader, hostile_strings

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        counts = check_against_sd_scripts_reader(hostile_strings(count, seed=30_000), Path(tmp))
    return {**counts, "strings": count, "seconds": time.monotonic() - started}


def table(rows: list[dict], fuzz: dict | None, markdown: bool) -> str:
    fuzz_row = []
    if fuzz is not None:
        fuzz_row = [{"category": "hostile", "case": f"{fuzz['strings']:,} fuzzed strings x 3 places (toml 0.10.2)",
                     "happened": f"{fuzz['identical']:,} read back identically, {fuzz['refused']:,} refused, "
                                 f"{len(fuzz['differs'])} misread ({fuzz['seconds']:.0f} s)",
                     "held": not fuzz["differs"], "outcome": "passed" if not fuzz["differs"] else "failed"}]
    by_category = defaultdict(list)
    for row in rows + fuzz_row:
        by_category[row["category"]].append(row)
    lines = []
    for category, items in sorted(by_category.items()):
        held = sum(1 for item in items if item["held"])
        skipped = sum(1 for item in items if item["outcome"] == "skipped")
        lines.append(f"\n## {category}: {held}/{len(items)} held" + (f" ({skipped} skipped)" if skipped else ""))
        if markdown:
            lines += ["", "| case | what happened | held |", "|---|---|---|"]
        for item in items:
            mark = "yes" if item["held"] else ("skipped" if item["outcome"] == "skipped" else "NO")
            happened = item["happened"].replace("|", "/")
            lines.append(f"| {item['case']} | {happened} | {mark} |" if markdown
                         else f"  [{mark:>7}] {item['case']}\n            {happened}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=30_000, help="hostile strings for the TOML fuzz (0: none)")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    args = parser.parse_args()
    rows, took = run_suite(args.pytest_args)
    fuzz = run_fuzz(args.fuzz) if args.fuzz else None
    outcomes = Counter(row["outcome"] for row in rows)
    disk = "real tmpfs mounts" if os.geteuid() == 0 else "the injected failing writer only (not root: no tmpfs)"
    pg = "SQLite and PostgreSQL" if os.environ.get("KOHYA_WRAP_TEST_PG_URL") else "SQLite (PostgreSQL not set)"
    print(f"# Fault matrix: {len(rows)} cases in {took:.0f} s ({dict(outcomes)}); disk faults on {disk}; "
          f"queue on {pg}")
    print(table(rows, fuzz, args.markdown))
    failed = [row for row in rows if row["outcome"] == "failed"] + ([1] if fuzz and fuzz["differs"] else [])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Pre-flight check of every image and caption: a process pool over new files, a content-hash cache for the rest."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from kohya_wrap.dataset import buckets, judge, probe, rules
from kohya_wrap.dataset.factcache import FactCache, stat_key
from kohya_wrap.dataset.findings import Finding, info, sort_findings, warning
from kohya_wrap.dataset.tokens import TokenCounter

INLINE_LIMIT = 32  # fewer new files than this: inspect in-process, a pool would cost more to start

Progress = Callable[[int, int], None]


def check_dataset(subsets, *, resolution, min_bucket_reso: int, caption_extension: str, token_limit: int = 225,
                  workers: int | None = None, cache_path: Path | None = None, progress: Progress | None = None,
                  decode: bool = True, max_bucket_reso: int | None = None,
                  tokenizer_dir: Path | None = None) -> list[Finding]:
    """Findings for every image of the subsets and the caption sd-scripts would read for it.

    decode=False reads headers only (fast; misses truncated data). max_bucket_reso (default: sd-scripts'
    1024, raised to the resolution) only sets the aspect range used by the extreme-aspect check.
    """
    resolution = _pair(resolution)
    images = _unique(image for subset in subsets for image in subset.images)
    captions = _unique(c for c in (rules.find_caption(i, caption_extension)[0] for i in images) if c is not None)
    findings, readable = [], []
    for path, kind in [(p, "image") for p in images] + [(p, "caption") for p in captions]:
        problem, st = judge.stat_entry(path, allow_empty=kind == "caption")
        if problem:
            findings.append(problem)
        else:
            readable.append((path, kind, st))
    facts = collect_facts(readable, decode=decode, workers=workers, cache_path=cache_path, progress=progress)
    image_rules = _image_rules(resolution, min_bucket_reso, max_bucket_reso)
    for path in images:
        if path in facts:
            findings += judge.judge_image(path, facts[path], image_rules)
    findings += _caption_findings(captions, facts, token_limit, tokenizer_dir)
    findings += duplicate_images(images, facts) + duplicate_stems(images, caption_extension)
    return sort_findings(findings)


def collect_facts(files: list[tuple], *, decode: bool, workers: int | None = None,
                  cache_path: Path | None = None, progress: Progress | None = None) -> dict[Path, dict]:
    """Facts per (path, kind[, stat result]): unchanged files come from the cache, the rest from
    probe.inspect_file, in a process pool when there are enough of them."""
    cache = FactCache(cache_path)
    facts: dict[Path, dict] = {}
    keys: dict[Path, list[int]] = {}
    todo: list[tuple[Path, str]] = []
    for path, kind, *known_stat in files:
        keys[path] = stat_key(known_stat[0] if known_stat else os.stat(path))
        hit = cache.lookup(str(path), keys[path], decode)
        if hit is not None:
            facts[path] = hit
        else:
            todo.append((path, kind))
    done, total = len(facts), len(files)
    if progress:
        progress(done, total)
    for (path, _kind), result in zip(todo, _inspect(todo, decode, workers, cache.known_hashes(decode))):
        if result.get("known"):
            result = cache.by_hash[result["hash"]]
        facts[path] = result
        cache.put(str(path), keys[path], result)
        done += 1
        if progress:
            progress(done, total)
    if cache_path:
        cache.save({str(entry[0]) for entry in files})
    return facts


def _inspect(todo: list[tuple[Path, str]], decode: bool, workers: int | None, known: list[str]) -> Iterable[dict]:
    jobs = [(str(path), kind, decode) for path, kind in todo]
    workers = workers or auto_workers()
    if workers <= 1 or len(jobs) < INLINE_LIMIT:
        probe.init_worker(known)
        try:
            yield from map(probe.inspect_file, jobs)
        finally:
            probe.init_worker(())
        return
    chunk = max(1, min(64, len(jobs) // (workers * 4)))
    with ProcessPoolExecutor(workers, mp_context=pool_context(), initializer=probe.init_worker,
                             initargs=(known,)) as pool:
        yield from pool.map(probe.inspect_file, jobs, chunksize=chunk)


def auto_workers() -> int:
    """Cores not already busy (1-minute load average): on a saturated machine extra processes only add cost."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, cores - busy)


def pool_context():
    """fork where it is safe (Linux, no other thread alive): workers start in milliseconds with everything
    imported; otherwise spawn, which re-imports in each worker (slower to start, safe with threads)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def image_sizes(paths: list[Path], *, workers: int | None = None, cache_path: Path | None = None,
                progress: Progress | None = None) -> tuple[dict[Path, tuple[int, int]], list[Finding]]:
    """(width, height) per readable image from headers only (shares the check cache); problems as findings."""
    findings, readable = [], []
    for path in _unique(paths):
        problem, st = judge.stat_entry(path)
        if problem:
            findings.append(problem)
        else:
            readable.append((path, "image", st))
    facts = collect_facts(readable, decode=False, workers=workers, cache_path=cache_path, progress=progress)
    sizes = {}
    for path, fact in facts.items():
        if fact.get("width") and fact.get("height"):
            sizes[path] = (fact["width"], fact["height"])
        else:
            findings += judge.judge_image(path, fact, judge.ImageRules((1, 1), 0, (0.0, float("inf"))))
    return sizes, findings


def _caption_findings(captions: list[Path], facts: dict, token_limit: int, tokenizer_dir) -> list[Finding]:
    counter = TokenCounter.load(tokenizer_dir) if captions else None
    found = []
    for path in captions:
        if path in facts:
            text = facts[path].get("first_line")
            tokens = counter.count(text) if counter and text else None
            found += judge.judge_caption(path, facts[path], tokens, token_limit)
    if counter and not counter.exact:
        found.append(info("token-count-estimated", None, "CLIP tokenizer files not found: token counts are word "
                          "counts (a lower bound).", "Install the tokenizers with `kohya-wrap backend`."))
    return found


def duplicate_images(images: list[Path], facts: dict) -> list[Finding]:
    first_by_hash: dict[str, Path] = {}
    found = []
    for path in images:
        digest = facts.get(path, {}).get("hash")
        if digest is None:
            continue
        if digest in first_by_hash:
            found.append(warning("duplicate-image", path, f"Same content as {first_by_hash[digest]}: it trains twice "
                                 "as often.", "Delete one copy."))
        else:
            first_by_hash[digest] = path
    return found


def duplicate_stems(images: list[Path], caption_extension: str) -> list[Finding]:
    by_stem: dict[str, list[Path]] = {}
    for path in images:
        by_stem.setdefault(os.path.splitext(str(path))[0], []).append(path)
    found = []
    for stem, group in by_stem.items():
        for path in group[1:]:
            found.append(warning("duplicate-stem", path, f"{group[0].name} and {path.name} share one caption name "
                                 f"({os.path.basename(stem)}{caption_extension}).",
                                 "Rename one of them so each image has its own caption."))
    return found


def _image_rules(resolution, min_bucket_reso: int, max_bucket_reso: int | None) -> judge.ImageRules:
    high = max(max_bucket_reso or 1024, max(resolution))
    low = min(min_bucket_reso, min(resolution))
    resos = buckets.make_bucket_resolutions(resolution, low, high, 64)
    ratios = [w / h for w, h in resos]
    return judge.ImageRules(resolution, min_bucket_reso, (min(ratios), max(ratios)))


def _pair(resolution) -> tuple[int, int]:
    return (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)


def _unique(paths: Iterable[Path]) -> list[Path]:
    return list(dict.fromkeys(p if isinstance(p, Path) else Path(p) for p in paths))

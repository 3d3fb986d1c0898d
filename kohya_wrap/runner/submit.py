"""Queue submission: render one job folder per sweep combination, check each against its limits, queue all."""

from __future__ import annotations

import re
import shutil
from itertools import product
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job.meta import update_meta
from kohya_wrap.runner.plan import estimate_job
from kohya_wrap.runner.prepare import prepare


def expand_sweeps(sweeps: list[str]) -> list[tuple[str, list[str]]]:
    """['a.b=1,2', 'c=x,y'] -> one (name suffix, overrides) per combination, in order."""
    axes = []
    for spec in sweeps:
        key, sep, values = spec.partition("=")
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not choices:
            raise KohyaWrapError(f"Bad --sweep {spec!r}.",
                                 hint="write SECTION.KEY=V1,V2,... e.g. --sweep network.network_dim=16,32,64")
        axes.append([(key.strip(), value) for value in choices])
    combos = []
    for combo in product(*axes):
        suffix = "-".join(f"{key.rsplit('.', 1)[-1]}{value}" for key, value in combo)
        suffix = re.sub(r"[^A-Za-z0-9._-]+", "_", suffix)
        combos.append((suffix, [f"{key}={value}" for key, value in combo]))
    return combos


def add_jobs(registry, source: str, overrides: list[str], sweeps: list[str], *, name: str | None = None,
             priority: int = 0, force: bool = False, **prepare_options) -> list[dict]:
    """Render and queue one job per sweep combination; LimitReached (and no folder left behind) when one
    is estimated over its limits and not forced."""
    from kohya_wrap.registry.queue import enqueue

    combos = expand_sweeps(sweeps) if sweeps else [("", [])]
    base = name or Path(source).stem
    made: list[Path] = []
    try:
        for suffix, extra in combos:
            job_name = f"{base}-{suffix}" if suffix else name
            made.append(prepare(source, [*overrides, *extra], name=job_name, **prepare_options).job_dir)
        plans = [estimate_job(registry, job_dir, force=force) for job_dir in made]
    except BaseException:
        for job_dir in made:
            shutil.rmtree(job_dir, ignore_errors=True)
        raise
    rows = []
    for job_dir, plan in zip(made, plans):
        update_meta(job_dir, estimate=plan.record(force))
        rows.append(enqueue(registry, job_dir, priority=priority))
    return rows

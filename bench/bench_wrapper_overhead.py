"""A/B: the real trainer's s/it launched by kohya-wrap (runner: pipe, live parse, events) vs by hand.

Both runs use the same rendered files (the same argv, env and cwd from command.json); the by-hand run writes
stdout/stderr straight to files like a user's shell would. Speed comes from each run's own TensorBoard wall
times (steady steps only), so the measurement is the trainer's, not ours.

usage: KOHYA_WRAP_SD_SCRIPTS=... KOHYA_WRAP_PYTHON=... python bench/bench_wrapper_overhead.py MODEL [--steps 6]
Needs ~22 GB RAM per run (runs one after the other) and takes ~8 minutes on a 2-core CPU at 256 px.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kohya_wrap.logs.tensorboard import read_scalars  # noqa: E402
from kohya_wrap.runner import prepare_job, run_job  # noqa: E402

OVERRIDES = ["platform.allow_cpu=true", "network.network_dim=4", "network.network_alpha=4.0", "dataset.resolution=256",
             "dataset.min_bucket_reso=128", "dataset.max_bucket_reso=512", "dataset.batch_size=1",
             "saving.save_every_n_steps=1000", "optimizer.lr_warmup_steps=0", "optimizer.lr_scheduler=constant",
             "training.max_data_loader_n_workers=0", "~training.persistent_data_loader_workers", "~saving.save_state"]


def steady_s_per_it(logdir: Path) -> tuple[float, list[float]]:
    """Median seconds between consecutive steps, first step (warm-up) excluded."""
    points = sorted((s.step, s.wall_time) for s in read_scalars(logdir) if s.tag == "loss/current")
    gaps = [later[1] - earlier[1] for earlier, later in zip(points[1:], points[2:])]
    return statistics.median(gaps), gaps


def by_hand(job_dir: Path) -> float:
    spec = json.loads((job_dir / "command.json").read_text())
    started = time.monotonic()
    with open(job_dir / "stdout.log", "wb") as out, open(job_dir / "stderr.log", "wb") as err:
        subprocess.run(spec["argv"], cwd=spec["cwd"], env={**os.environ, **spec["env"]}, stdout=out, stderr=err,
                       check=True)
    return time.monotonic() - started


def wrapped(job_dir: Path) -> float:
    started = time.monotonic()
    outcome = run_job(job_dir)
    if outcome.status != "succeeded":
        raise SystemExit(f"wrapped run {outcome.status}: {outcome.message}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=1, help="A/B pairs, alternating the order (AB, BA, ...)")
    opts = parser.parse_args()
    os.environ.setdefault("KOHYA_WRAP_HOME", tempfile.mkdtemp(prefix="kw-bench-"))
    from kohya_wrap.backend.tokenizers import ensure_tokenizer_cache

    # the CLIP BPE vocabulary shipped with the tests (open_clip_torch is not installed here)
    ensure_tokenizer_cache(vocab=REPO / "tests" / "fixtures" / "clip-tokenizers" / "bpe_simple_vocab_16e6.txt.gz")
    dataset = REPO / "templates" / "example-dataset"
    overrides = OVERRIDES + [f"training.max_train_steps={opts.steps}"]
    runs: dict[str, list[tuple[float, float, list[float]]]] = {"by hand": [], "kohya-wrap": []}
    order = [("by hand", by_hand), ("kohya-wrap", wrapped)]
    with open("/tmp/kohya-heavy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for pair in range(opts.pairs):
            for label, run in (order if pair % 2 == 0 else order[::-1]):
                job_dir = prepare_job("sdxl-style", overrides, dataset=dataset, model=opts.model,
                                      name=label.replace(" ", "-"))
                load = os.getloadavg()[0]
                wall = run(job_dir)
                median, gaps = steady_s_per_it(job_dir / "logs")
                runs[label].append((wall, median, gaps))
                print(f"{label:>10} run {pair + 1}: wall {wall:6.1f} s, steady s/it {median:6.2f}, load before {load:.1f}, "
                      f"gaps {', '.join(f'{gap:.2f}' for gap in gaps)}", flush=True)
    summary = {label: (statistics.median(r[0] for r in rows), statistics.median(g for r in rows for g in r[2]))
               for label, rows in runs.items()}
    lines = [f"{label:>10}: median wall {wall:7.1f} s, median steady s/it {s_it:6.2f} over {len(runs[label])} run(s)"
             for label, (wall, s_it) in summary.items()]
    hand, ours = summary["by hand"], summary["kohya-wrap"]
    lines.append(f"ratio kohya-wrap / by hand: s/it {ours[1] / hand[1]:.3f}, wall {ours[0] / hand[0]:.3f}")
    lines.append(f"(2-core CPU shared with other work, 256 px, rank 4, batch 1, {opts.steps} steps per run)")
    print("\n".join(lines))
    (REPO / "bench" / "results" / "wrapper_overhead.txt").write_text("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()

"""Prepare a job: resolve -> check the dataset -> platform profile -> render the job folder and command.json."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kohya_wrap import paths
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.config.build import plan_dataset, render_into, require_clean
from kohya_wrap.config.resolve import ResolvedConfig, resolve
from kohya_wrap.errors import BackendError, KohyaWrapError, LimitReached
from kohya_wrap.job.causes import hint
from kohya_wrap.runner.disk import write_failure
from kohya_wrap.launch.spec import LaunchSpec, build_spec


@dataclass
class Prepared:
    """A rendered job folder and what was decided on the way (for printing before launch)."""

    job_dir: Path
    spec: LaunchSpec | None
    notes: list[str]
    findings: list
    placeholder_argv: list[str] = field(default_factory=list)
    preview: str = ""
    step_plan: object = None


def prepare_job(source: str, overrides: Iterable[str] = (), *, dataset: Path | None = None, model: Path | None = None,
                name: str | None = None, runs_dir: Path | None = None, reg: Path | None = None,
                dry_run: bool = False) -> Path:
    """Resolve, check and render a complete job folder (command.json included); returns its path."""
    return prepare(source, overrides, dataset=dataset, model=model, name=name, runs_dir=runs_dir, reg=reg,
                   dry_run=dry_run).job_dir


def prepare(source: str, overrides: Iterable[str] = (), *, dataset: Path | None = None, model: Path | None = None,
            name: str | None = None, runs_dir: Path | None = None, reg: Path | None = None,
            dry_run: bool = False, progress=None) -> Prepared:
    notes: list[str] = []
    job_name = jobfolder.safe_name(name, "--name") if name is not None else None
    runs = _writable_places(runs_dir)
    backend = _backend(dry_run, notes)
    facts = _facts(backend)
    config = resolve(source, list(overrides), dataset=dataset, reg=reg, model=model, check_model=not dry_run,
                     profile=_profile(facts))
    notes.extend(sub.line() for sub in config.substitutions)
    _cpu_check(config, facts, notes, dry_run)
    plan = plan_dataset(config)
    findings = plan.findings + _deep_check(config, plan, progress)
    require_clean(findings)
    step_plan = _step_plan(config, plan)
    _disk_check(config, step_plan, runs, dry_run, notes)
    job_name = job_name or jobfolder.clean_name(config.data["meta"]["name"])
    job_dir = runs / jobfolder.new_job_id(job_name)
    job_dir.mkdir(parents=True, exist_ok=False)
    try:
        render_into(config, plan.subsets, job_dir, job_name, use_cpu=_use_cpu(facts))
        spec = write_command(job_dir, config, backend, facts)
    except BaseException as error:
        shutil.rmtree(job_dir, ignore_errors=True)  # no half-written job folder stays behind
        failure = write_failure(error, runs)
        if failure is None:
            raise
        raise KohyaWrapError(f"Cannot write the job folder: {failure[1]}.", hint=hint(failure[0])) from None
    placeholder = build_spec(python="python", backend_root=Path("<sd-scripts>"), job_dir=job_dir,
                             launcher=config.data["launch"]["launcher"]).argv
    return Prepared(job_dir=job_dir, spec=spec, notes=notes, findings=findings, placeholder_argv=placeholder,
                    preview=_preview_text(step_plan), step_plan=step_plan)


def _writable_places(runs_dir: Path | None) -> Path:
    """The runs and cache folders, made and checked writable before any work (a clear error, not a traceback)."""
    import os

    if runs_dir is not None:
        what = "the runs folder (--runs)"
    elif os.environ.get("KOHYA_WRAP_RUNS"):
        what = "the runs folder (KOHYA_WRAP_RUNS)"
    else:
        what = "the runs folder (KOHYA_WRAP_HOME/runs)"
    runs = paths.writable_dir(runs_dir or paths.runs_dir(), what)
    paths.writable_dir(paths.cache_dir(), "the cache folder (KOHYA_WRAP_CACHE or KOHYA_WRAP_HOME/cache)")
    return runs


def _disk_check(config: ResolvedConfig, step_plan, runs: Path, dry_run: bool, notes: list[str]) -> None:
    """Refuse a run whose estimated disk use (LoRA files, states, samples, logs) is over the free space."""
    from kohya_wrap.runner.disk import estimate_disk_use, free_bytes, human

    args = config.args()
    prompts = args.get("sample_prompts")
    need = estimate_disk_use(args, steps=step_plan.total_steps, epochs=step_plan.epochs,
                             resolution=config.section("dataset").size(),
                             prompts=len(prompts) if isinstance(prompts, list) else 1)
    free = free_bytes(runs)
    if free is None or free >= need.total_bytes:
        return
    message = (f"Not enough free disk space in {runs}: {human(free)} free, but this run writes about "
               f"{human(need.total_bytes)} ({need.describe()}).")
    advice = ("free space there, keep fewer checkpoints (saving.save_last_n_steps / save_last_n_epochs, "
              "saving.save_state=false), or put the job on another disk with --runs")
    if dry_run:
        notes.append(f"{message} A real run would be refused: {advice}.")
        return
    raise LimitReached(message, hint=advice)


def render_config(source: str, overrides: Iterable[str] = (), *, dataset: Path, model: Path, out_dir: Path,
                  reg: Path | None = None, name: str | None = None) -> tuple[dict[str, str], list]:
    """`config render`: the same resolution (platform profile included) and files as `train`, into out_dir."""
    facts = _facts(_backend(True, []))
    config = resolve(source, list(overrides), dataset=dataset, reg=reg, model=model, check_model=True,
                     profile=_profile(facts))
    plan = plan_dataset(config)
    files = render_into(config, plan.subsets, out_dir, name or config.data["meta"]["name"], use_cpu=_use_cpu(facts))
    return files, plan.findings


def render_for_this_machine(job_dir: Path, *, dry_run: bool = False) -> list[str]:
    """Re-resolve a queued job's job.toml with the profile of the machine that runs it, and re-render what
    depends on the machine (args.toml, accelerate.yaml, command.json); returns the substitution lines."""
    from kohya_wrap.config.render import JobPaths, render_accelerate_yaml, render_args_toml

    job_dir = Path(job_dir).resolve()
    backend = _backend(dry_run, [])
    facts = _facts(backend)
    config = resolve(str(job_dir / jobfolder.JOB_TOML), [], check_model=False, profile=_profile(facts))
    _cpu_check(config, facts, [], dry_run)
    job_name = jobfolder.read_args(job_dir).get("output_name") or config.data["meta"]["name"]
    job_paths = JobPaths(root=job_dir, tokenizer_cache=paths.tokenizer_cache_dir())
    jobfolder.write_text(job_dir, jobfolder.ARGS_TOML, render_args_toml(config, job_paths, job_name))
    jobfolder.write_text(job_dir, jobfolder.ACCELERATE_YAML, render_accelerate_yaml(config, _use_cpu(facts)))
    write_command(job_dir, config, backend, facts)
    return [sub.line() for sub in config.substitutions]


def write_command(job_dir: Path, config: ResolvedConfig, backend, facts: dict) -> LaunchSpec | None:
    """command.json for this machine's backend (none without a backend: the folder is a dry run)."""
    if backend is None:
        return None
    spec = build_spec(python=backend.python, backend_root=backend.root, job_dir=job_dir,
                      launcher=config.data["launch"]["launcher"],
                      num_cpu_threads_per_process=config.data["launch"]["num_cpu_threads_per_process"],
                      backend_commit=backend.commit, platform=facts,
                      # our optional patches write this commit into LoRA metadata in trees without .git
                      extra_env={"KOHYA_WRAP_BACKEND_COMMIT": backend.commit} if backend.commit else None,
                      substitutions=[sub.line() for sub in config.substitutions])
    jobfolder.write_text(job_dir, jobfolder.COMMAND, spec.to_json())
    return spec


def _deep_check(config: ResolvedConfig, plan, progress) -> list:
    from kohya_wrap.dataset.check import check_dataset

    ds = config.section("dataset")
    # sd-scripts' default max_token_length (None) means 75 tokens
    limit = config.args().get("max_token_length") or 75
    return check_dataset(plan.scan.subsets, resolution=ds.size(), min_bucket_reso=ds.min_bucket_reso,
                         max_bucket_reso=ds.max_bucket_reso,  # the aspect range `data check --preset` uses too
                         caption_extension=ds.caption_extension, token_limit=limit,
                         cache_path=_check_cache(ds.train_dir), progress=progress)


def _check_cache(train_dir: str | None) -> Path:
    """One cache file per dataset (the same as `data check` uses), so datasets do not evict each other."""
    from kohya_wrap.dataset.factcache import cache_path_for

    return cache_path_for(train_dir or ".")


def _step_plan(config: ResolvedConfig, plan):
    """sd-scripts' own step count for this dataset and config, computed before anything launches."""
    from kohya_wrap.dataset.buckets import plan_steps
    from kohya_wrap.dataset.check import image_sizes

    ds, args = config.section("dataset"), config.args()
    every = [image for subset in plan.scan.subsets for image in subset.images]
    sizes, _ = image_sizes(every, cache_path=_check_cache(ds.train_dir))
    # the rendered subsets carry the repeats that really go into dataset.toml (flat folders take the config's)
    pairs = [(table, [sizes[image] for image in subset.images if image in sizes])
             for table, subset in zip(plan.subsets, plan.scan.subsets)]
    return plan_steps(pairs, resolution=ds.size(), batch_size=ds.batch_size,
                      gradient_accumulation_steps=args.get("gradient_accumulation_steps", 1),
                      max_train_epochs=args.get("max_train_epochs"), max_train_steps=args.get("max_train_steps"),
                      min_bucket_reso=ds.min_bucket_reso, max_bucket_reso=ds.max_bucket_reso,
                      bucket_reso_steps=ds.bucket_reso_steps, enable_bucket=ds.enable_bucket,
                      bucket_no_upscale=ds.bucket_no_upscale, num_processes=config.data["launch"]["num_processes"])


def _preview_text(step_plan) -> str:
    buckets = ", ".join(f"{row['resolution'][0]}x{row['resolution'][1]}: {row['count']}" for row in step_plan.buckets)
    return f"{step_plan.summary()}\n  buckets (images with repeats): {buckets}"


def _backend(dry_run: bool, notes: list[str]):
    from kohya_wrap.backend.locate import find_backend, require_backend

    if not dry_run:
        from kohya_wrap.backend.importcheck import check_imports
        backend = require_backend()
        check_imports(backend.python, backend.root, backend.entry_script)  # fails in a second, before any model load
        return backend
    backend = find_backend()
    if backend is None:
        notes.append("No sd-scripts backend found (set KOHYA_WRAP_SD_SCRIPTS or run `kohya-wrap backend install`): "
                     "the job folder is rendered, nothing is launched.")
    return backend


_FACTS: dict[str, dict] = {}


def _facts(backend) -> dict:
    """This machine's facts, probed in the backend's interpreter once per process ({} without a backend):
    a worker running many jobs starts that interpreter (and its torch import) once."""
    if backend is None:
        return {}
    from kohya_wrap.backend.platform import gather_facts

    if backend.python not in _FACTS:
        _FACTS[backend.python] = gather_facts(backend.python).to_dict()
    return dict(_FACTS[backend.python])


def _profile(facts: dict):
    """The profile of the machine with these facts, for config resolution (None without facts)."""
    if not facts:
        return None
    from kohya_wrap.backend.platform import Facts, apply_profile

    machine = Facts.from_dict(facts)
    return lambda args: apply_profile(machine, args)


def _use_cpu(facts: dict) -> bool:
    return bool(facts) and not facts.get("cuda_available", False)


def _cpu_check(config: ResolvedConfig, facts: dict, notes: list[str], dry_run: bool) -> None:
    if not facts or facts.get("cuda_available") or config.data["platform"]["allow_cpu"]:
        return
    message = "No CUDA GPU is visible to the backend's Python: nothing would train at a useful speed."
    hint = "set platform.allow_cpu=true to train on the CPU anyway (minutes per step even at 256 px)"
    if not dry_run:
        raise BackendError(message, hint=hint)
    notes.append(f"{message} ({hint})")

"""Prepare a job: resolve -> check the dataset -> platform profile -> render the job folder and command.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kohya_wrap import jobfolder, paths
from kohya_wrap.config.build import plan_dataset, render_into, require_clean
from kohya_wrap.config.resolve import ResolvedConfig, resolve
from kohya_wrap.errors import BackendError
from kohya_wrap.fileio import write_text_atomic
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
    config = resolve(source, list(overrides), dataset=dataset, reg=reg, model=model, check_model=not dry_run)
    plan = plan_dataset(config)
    findings = plan.findings + _deep_check(config, plan, progress)
    require_clean(findings)
    step_plan = _step_plan(config, plan)
    notes: list[str] = []
    backend = _backend(dry_run, notes)
    facts, substitutions = _platform(config, backend, notes, dry_run)
    job_name = name or config.data["meta"]["name"]
    job_dir = (runs_dir or paths.runs_dir()) / jobfolder.new_job_id(job_name)
    job_dir.mkdir(parents=True, exist_ok=False)
    use_cpu = bool(facts) and not facts.get("cuda_available", False)
    render_into(config, plan.subsets, job_dir, job_name, use_cpu=use_cpu)
    spec = None
    if backend is not None:
        spec = build_spec(python=backend.python, backend_root=backend.root, job_dir=job_dir,
                          launcher=config.data["launch"]["launcher"],
                          num_cpu_threads_per_process=config.data["launch"]["num_cpu_threads_per_process"],
                          backend_commit=backend.commit, platform=facts,
                          # our optional patches write this commit into LoRA metadata in trees without .git
                          extra_env={"KOHYA_WRAP_BACKEND_COMMIT": backend.commit} if backend.commit else None,
                          substitutions=[sub.line() for sub in substitutions])
        write_text_atomic(job_dir / jobfolder.COMMAND, spec.to_json())
    placeholder = build_spec(python="python", backend_root=Path("<sd-scripts>"), job_dir=job_dir,
                             launcher=config.data["launch"]["launcher"]).argv
    return Prepared(job_dir=job_dir, spec=spec, notes=notes, findings=findings, placeholder_argv=placeholder,
                    preview=_preview_text(step_plan), step_plan=step_plan)


def _deep_check(config: ResolvedConfig, plan, progress) -> list:
    from kohya_wrap.dataset.check import check_dataset

    ds = config.section("dataset")
    # sd-scripts' default max_token_length (None) means 75 tokens
    limit = config.args().get("max_token_length") or 75
    return check_dataset(plan.scan.subsets, resolution=ds.size(), min_bucket_reso=ds.min_bucket_reso,
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
        return require_backend()
    backend = find_backend()
    if backend is None:
        notes.append("No sd-scripts backend found (set KOHYA_WRAP_SD_SCRIPTS or run `kohya-wrap backend install`): "
                     "the job folder is rendered, nothing is launched.")
    return backend


def _platform(config: ResolvedConfig, backend, notes: list[str], dry_run: bool):
    """Gather machine facts in the backend's interpreter and apply the visible substitutions to the config."""
    if backend is None or not config.data["platform"]["substitutions"]:
        return {}, []
    from kohya_wrap.backend.platform import apply_profile, gather_facts

    facts = gather_facts(backend.python)
    new_args, substitutions = apply_profile(facts, config.args())
    _replace_args(config, new_args)
    notes.extend(sub.line() for sub in substitutions)
    facts_dict = facts.to_dict() if hasattr(facts, "to_dict") else dict(facts)
    if not facts_dict.get("cuda_available") and not config.data["platform"]["allow_cpu"]:
        message = "No CUDA GPU is visible to the backend's Python: nothing would train at a useful speed."
        hint = "set platform.allow_cpu=true to train on the CPU anyway (minutes per step even at 256 px)"
        if not dry_run:
            raise BackendError(message, hint=hint)
        notes.append(f"{message} ({hint})")
    return facts_dict, substitutions


def _replace_args(config: ResolvedConfig, new_args: dict) -> None:
    from kohya_wrap.config.schema import ARG_SECTIONS

    old_args = config.args()
    for section in ARG_SECTIONS:
        table = config.data.get(section, {})
        for key in list(table):
            if key not in new_args:
                del table[key]
            elif table[key] != new_args[key]:
                table[key] = new_args[key]
                config.provenance[f"{section}.{key}"] = "platform profile"
    for key, value in new_args.items():
        if key not in old_args:
            config.data.setdefault("training", {})[key] = value
            config.provenance[f"training.{key}"] = "platform profile"

"""Turn a resolved config and its dataset into the rendered job files (and write them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.config import rules
from kohya_wrap.config.render import JobPaths, render_job_files
from kohya_wrap.config.resolve import ResolvedConfig
from kohya_wrap.errors import ConfigError, ConfigIssue, DatasetError
from kohya_wrap.fileio import write_text_atomic


@dataclass
class DatasetPlan:
    """The subsets that go into dataset.toml, and what the scan found on the way."""

    subsets: list[dict]
    findings: list
    scan: object


def plan_dataset(config: ResolvedConfig) -> DatasetPlan:
    """Scan the configured dataset folders into dataset.toml subsets (flat folders get the preset's repeats)."""
    from kohya_wrap.dataset.scan import scan_dataset

    ds = config.data["dataset"]
    if not ds.get("train_dir"):
        raise ConfigError(issues=[ConfigIssue("dataset.train_dir", "no dataset given: pass --dataset DIR",
                                              config.provenance.get("dataset.train_dir", "default"))])
    reg = Path(ds["reg_dir"]) if ds.get("reg_dir") else None
    scan = scan_dataset(Path(ds["train_dir"]), reg, caption_extension=ds["caption_extension"])
    subsets = []
    for subset in scan.subsets:
        table = subset.to_dataset_toml()
        if _is_plain_flat_folder(subset, Path(ds["train_dir"]), reg):
            table["num_repeats"] = ds["num_repeats"]
            if ds.get("class_tokens"):
                table["class_tokens"] = ds["class_tokens"]
        subsets.append(table)
    return DatasetPlan(subsets=subsets, findings=list(scan.findings), scan=scan)


def dataset_settings(config: ResolvedConfig) -> dict:
    """The settings a job of this config checks and counts its dataset with (the check's aspect range follows
    the bucket range); `data check/preview --preset` and train's pre-flight read the same values."""
    ds, args = config.section("dataset"), config.args()
    return {"resolution": ds.size(), "min_bucket_reso": ds.min_bucket_reso, "max_bucket_reso": ds.max_bucket_reso,
            "bucket_reso_steps": ds.bucket_reso_steps, "enable_bucket": ds.enable_bucket,
            "bucket_no_upscale": ds.bucket_no_upscale, "caption_extension": ds.caption_extension,
            # sd-scripts' default max_token_length (None) means 75 tokens
            "token_limit": args.get("max_token_length") or 75, "batch_size": ds.batch_size,
            "gradient_accumulation_steps": args.get("gradient_accumulation_steps", 1),
            "max_train_epochs": args.get("max_train_epochs"), "max_train_steps": args.get("max_train_steps"),
            "num_processes": config.data["launch"]["num_processes"]}


def _is_plain_flat_folder(subset, train_dir: Path, reg_dir: Path | None) -> bool:
    """A root folder used directly (no N_ name): its repeats and class tokens come from the config."""
    from kohya_wrap.dataset.rules import parse_folder_name

    roots = {train_dir.resolve()} | ({reg_dir.resolve()} if reg_dir else set())
    return Path(subset.image_dir).resolve() in roots and parse_folder_name(Path(subset.image_dir).name)[0] is None


def require_clean(findings) -> None:
    """Stop before launch when a finding is an error; warnings pass."""
    errors = [finding for finding in findings if finding.severity == "error"]
    if errors:
        lines = [f"  - {finding.path or ''}: {finding.message}" + (f" (fix: {finding.hint})" if finding.hint else "")
                 for finding in errors]
        raise DatasetError(f"The dataset has {len(errors)} error(s):\n" + "\n".join(lines),
                           hint="run `kohya-wrap data check DIR` for the full report")


def render_into(config: ResolvedConfig, subsets: list[dict], out_dir: Path, job_name: str,
                use_cpu: bool = False) -> dict[str, str]:
    """Render every job file for OUT_DIR and write them atomically; returns name -> content."""
    problems = rules.output_rules(out_dir)
    if problems:
        raise ConfigError(issues=problems)
    job_paths = JobPaths(root=Path(out_dir).resolve(), tokenizer_cache=paths.tokenizer_cache_dir())
    files = render_job_files(config, subsets, job_paths, job_name, use_cpu=use_cpu)
    for name, text in files.items():
        write_text_atomic(job_paths.root / name, text)
    return files

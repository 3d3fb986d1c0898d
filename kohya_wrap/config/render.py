"""Pure rendering of a resolved config into the job folder's files (dataset.toml, args.toml, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kohya_wrap.config.ranges import toml_value_problem
from kohya_wrap.config.resolve import ResolvedConfig
from kohya_wrap.config.schema import ARG_SECTIONS
from kohya_wrap.errors import ConfigError, ConfigIssue
from kohya_wrap.tomlcompat import dumps

GENERAL_KEYS = ("caption_extension", "shuffle_caption", "keep_tokens", "caption_dropout_rate",
                "caption_dropout_every_n_epochs", "caption_tag_dropout_rate", "token_warmup_step",
                "token_warmup_min", "color_aug", "flip_aug", "random_crop")
DATASET_KEYS = ("batch_size", "enable_bucket", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps",
                "bucket_no_upscale")


@dataclass(frozen=True)
class JobPaths:
    """Absolute locations inside one job folder that rendered files point at."""

    root: Path
    tokenizer_cache: Path

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def file(self, name: str) -> Path:
        return self.root / name


def render_dataset_toml(config: ResolvedConfig, subsets: list[dict]) -> str:
    """sd-scripts --dataset_config: [general], one [[datasets]] with resolution as [W, H], its subsets."""
    ds = config.data["dataset"]
    width, height = config.section("dataset").size()
    general = {key: ds[key] for key in GENERAL_KEYS}
    dataset = {"resolution": [width, height], **{key: ds[key] for key in DATASET_KEYS}}
    dataset["subsets"] = [dict(subset) for subset in subsets]
    readable("dataset.toml", {"general": general, "datasets": [dataset]})
    # Each subset as its own [[datasets.subsets]] table: tomli-w writes short ones as inline tables, which
    # sd-scripts' TOML reader (toml 0.10.2) splits wrongly at a comma or quote inside a value.
    chunks = [dumps({"general": general}), "[[datasets]]\n" + dumps({k: v for k, v in dataset.items() if k != "subsets"})]
    chunks += ["[[datasets.subsets]]\n" + dumps(subset) for subset in dataset["subsets"]]
    return "\n".join(chunks)


def readable(file_name: str, document: dict) -> None:
    """Refuse (ConfigError) any value sd-scripts' own TOML reader would not read back as written."""
    issues = [ConfigIssue(f"{file_name}: {where}", problem, "rendered by kohya-wrap")
              for where, problem in _unreadable(document, "")]
    if issues:
        raise ConfigError(issues=issues)


def _unreadable(value, where: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _unreadable(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            yield from _unreadable(item, f"{where}[{index}]")
    else:
        problem = toml_value_problem(value)
        if problem:
            yield where, problem


def render_args(config: ResolvedConfig, paths: JobPaths, job_name: str) -> dict:
    """sd-scripts --config_file content as nested sections; keys are unique across sections."""
    sections = {name: dict(config.data[name]) for name in ARG_SECTIONS if config.data.get(name)}
    for values in sections.values():
        # networks.lora reads one text-encoder rate; a one-item list is rendered as that number.
        if isinstance(values.get("text_encoder_lr"), list):
            rates = values.pop("text_encoder_lr")
            if rates:
                values["text_encoder_lr"] = float(rates[0])
    width, height = config.section("dataset").size()
    wrapper = {
        "dataset_config": str(paths.file("dataset.toml")),
        # A plain integer here crashes sd-scripts (it calls .split(",") on it): always "W,H".
        "resolution": f"{width},{height}",
        "output_dir": str(paths.output),
        "logging_dir": str(paths.logs),
        "tokenizer_cache_dir": str(paths.tokenizer_cache),
    }
    flat = config.args()
    if "output_name" not in flat:
        wrapper["output_name"] = job_name
    if "log_with" not in flat:
        wrapper["log_with"] = "tensorboard"
    if isinstance(flat.get("sample_prompts"), list):
        for values in sections.values():
            values.pop("sample_prompts", None)
        wrapper["sample_prompts"] = str(paths.file("sample_prompts.txt"))
    sections["kohya_wrap"] = wrapper
    return sections


def render_args_toml(config: ResolvedConfig, paths: JobPaths, job_name: str) -> str:
    header = "# sd-scripts --config_file, written by kohya-wrap. [kohya_wrap] holds the values it sets itself.\n"
    args = render_args(config, paths, job_name)
    readable("args.toml", args)
    return header + dumps(args)


def render_accelerate_yaml(config: ResolvedConfig, use_cpu: bool) -> str:
    """Always explicit, so that a user's global accelerate default can never change a run."""
    launch = config.data["launch"]
    multi = launch["num_processes"] > 1
    values = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": "MULTI_GPU" if multi and not use_cpu else "NO",
        "downcast_bf16": "no",
        "dynamo_config": {"dynamo_backend": launch["dynamo_backend"].upper()},
        "machine_rank": 0,
        "main_training_function": "main",
        "mixed_precision": config.args().get("mixed_precision", "no"),
        "num_machines": launch["num_machines"],
        "num_processes": launch["num_processes"],
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": use_cpu,
    }
    if launch.get("gpu_ids"):
        values["gpu_ids"] = launch["gpu_ids"]
    return yaml.safe_dump(values, sort_keys=True)


def render_job_toml(config: ResolvedConfig) -> str:
    """The complete resolved config as the user asked for it (before this machine's platform profile);
    `kohya-wrap train <job>/job.toml` re-runs it on any machine. Provenance and substitutions as comments."""
    head = f"# Resolved by kohya-wrap from preset {_comment(repr(config.preset))} ({_comment(config.preset_path)}).\n"
    data = config.requested if config.requested is not None else config.data
    provenance = config.requested_provenance if config.requested_provenance is not None else config.provenance
    tail = "\n# Where each value came from:\n" + "".join(
        f"#   {_comment(key)} <- {_comment(source)}\n" for key, source in sorted(provenance.items())
    )
    if config.substitutions:
        tail += "# Platform profile of the machine that rendered args.toml (not kept here):\n" + "".join(
            f"#   {_comment(sub.line())}\n" for sub in config.substitutions)
    return head + dumps(data) + tail


def _comment(text: str) -> str:
    """One comment line: a newline in a path or value must not start TOML of its own."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def render_sample_prompts(config: ResolvedConfig) -> str | None:
    prompts = config.args().get("sample_prompts")
    if not isinstance(prompts, list):
        return None
    return "".join(f"{line.strip()}\n" for line in prompts)


def render_job_files(config: ResolvedConfig, subsets: list[dict], paths: JobPaths, job_name: str,
                     use_cpu: bool = False) -> dict[str, str]:
    """Every text file of the job folder (name -> content). Pure: writes nothing."""
    files = {
        "job.toml": render_job_toml(config),
        "dataset.toml": render_dataset_toml(config, subsets),
        "args.toml": render_args_toml(config, paths, job_name),
        "accelerate.yaml": render_accelerate_yaml(config, use_cpu),
    }
    prompts = render_sample_prompts(config)
    if prompts is not None:
        files["sample_prompts.txt"] = prompts
    return files

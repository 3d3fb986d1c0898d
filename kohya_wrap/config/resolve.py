"""Resolve a preset + overrides into a validated config that remembers where each value came from."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from kohya_wrap.config import ranges, rules, samples
from kohya_wrap.config.profile import Profile, apply_profile
from kohya_wrap.config.argtable import check_value, load_table
from kohya_wrap.config.choices import choice_rules
from kohya_wrap.config.schema import ARG_SECTIONS, WRAPPER_SECTIONS, DatasetSection
from kohya_wrap.errors import ConfigError, ConfigIssue
from kohya_wrap.presets.catalog import find_preset, read_preset
from kohya_wrap.presets.lines import key_lines
from kohya_wrap.presets.overrides import apply_override, parse_overrides
from kohya_wrap.presets.suggest import closest

# Arguments the wrapper sets itself: a preset value would be overwritten or would break the job folder.
RESERVED_ARGS = {
    "dataset_config": "kohya-wrap writes dataset.toml from the [dataset] section",
    "config_file": "kohya-wrap passes args.toml itself", "output_config": "not used by kohya-wrap",
    "output_dir": "outputs always go to <job>/output", "logging_dir": "logs always go to <job>/logs",
    "train_data_dir": "use dataset.train_dir (or --dataset)", "reg_data_dir": "use dataset.reg_dir (or --reg)",
    "in_json": "fine-tuning metadata JSON is not supported", "console_log_simple": "kohya-wrap sets it",
    "tokenizer_cache_dir": "kohya-wrap points it at its offline tokenizer cache",
    "resume": "use `kohya-wrap train --resume JOB`", "train_batch_size": "use dataset.batch_size",
}
# sd-scripts ignores these arguments when a dataset config is given: they belong in [dataset].
DATASET_ARGS = {name for name in DatasetSection.model_fields} - {"train_dir", "reg_dir", "num_repeats", "class_tokens", "batch_size"}


@dataclass
class ResolvedConfig:
    """A validated config: nested sections, the source of every value, and the preset it started from."""

    data: dict
    provenance: dict[str, str]
    preset: str
    preset_path: Path
    notes: list[str] = field(default_factory=list)
    # What the user asked for, before this machine's profile: job.toml keeps it, so the machine that
    # finally runs the job (a worker) applies its own profile, not the one of the machine that queued it.
    requested: dict | None = None
    requested_provenance: dict[str, str] | None = None
    substitutions: list = field(default_factory=list)

    def section(self, name: str):
        return WRAPPER_SECTIONS[name].model_validate(self.data.get(name, {}))

    def args(self) -> dict:
        """sd-scripts arguments, flattened from the argument sections."""
        flat: dict = {}
        for name in ARG_SECTIONS:
            flat.update(self.data.get(name, {}))
        return flat


def resolve(source: str, overrides=(), *, dataset: Path | None = None, reg: Path | None = None,
            model: Path | None = None, check_model: bool = False, profile: Profile | None = None) -> ResolvedConfig:
    """Preset + overrides (+ paths from the command line) + the platform profile -> ResolvedConfig, or
    ConfigError with every problem (the profile's changes are validated like any other source)."""
    path = find_preset(source)
    data = read_preset(path)
    lines = key_lines(path.read_text(encoding="utf-8"))
    provenance = {key: f"{path.name}:{line}" for key, line in lines.items()}
    parsed, issues = parse_overrides(overrides)
    for override in parsed:
        problem = apply_override(data, override)
        if problem:
            issues.append(problem)
        else:
            provenance[override.key] = override.source
    _apply_cli_paths(data, provenance, dataset=dataset, reg=reg, model=model)
    requested, requested_provenance = copy.deepcopy(data), dict(provenance)
    substitutions = []
    if not issues:
        substitutions = apply_profile(data, provenance, profile)
    issues += validate(data, provenance, check_model=check_model)
    if not issues:  # prompts taken from the captions: the resolved arguments hold the list, job.toml the table
        issues += samples.expand(data, lambda key: provenance.get(f"sample.{key}", "default"))
    if issues:
        raise ConfigError(issues=issues)
    return ResolvedConfig(data=_with_defaults(data), provenance=provenance, preset=source, preset_path=path,
                          requested=_with_defaults(requested), requested_provenance=requested_provenance,
                          substitutions=substitutions)


def _apply_cli_paths(data: dict, provenance: dict, **given) -> None:
    targets = {"dataset": ("dataset", "train_dir"), "reg": ("dataset", "reg_dir"),
               "model": ("model", "pretrained_model_name_or_path")}
    for option, value in given.items():
        if value is not None:
            section, key = targets[option]
            data.setdefault(section, {})[key] = str(Path(value).expanduser().resolve())
            provenance[f"{section}.{key}"] = f"--{option}"


def validate(data: dict, provenance: dict, *, check_model: bool) -> list[ConfigIssue]:
    """Every problem in a nested config, in file order of sections."""
    def source(key: str) -> str:
        return provenance.get(key) or provenance.get(arg_sections.get(key, "") + "." + key, "default")

    issues: list[ConfigIssue] = []
    arg_sections: dict[str, str] = {}
    known = list(WRAPPER_SECTIONS) + list(ARG_SECTIONS)
    for name, value in data.items():
        if name not in known:
            issues.append(ConfigIssue(name, "unknown section", provenance.get(name, _first_source(provenance, name)),
                                      closest(name, known)))
        elif not isinstance(value, dict):
            issues.append(ConfigIssue(name, "must be a table ([section])", provenance.get(name, "")))
        elif name in WRAPPER_SECTIONS:
            issues += _validate_wrapper(name, value, provenance)
        else:
            issues += _validate_args(name, value, provenance, arg_sections)
    issues += ranges.range_issues(data, provenance)
    if issues:
        # the rules still judge every value that is sound, so one bad value does not hide the others' problems
        bad = {issue.key for issue in issues}
        leaves = {key.rsplit(".", 1)[-1] for key in bad}
        # a rule that names a bad value (or falls back to its default) would judge what the user did not write
        return issues + [issue for issue in _rules(_without(data, bad, known), source, arg_sections, check_model)
                         if not any(leaf in f"{issue.key} {issue.problem}" for leaf in leaves)]
    return _rules(data, source, arg_sections, check_model)


def _without(data: dict, bad_keys: set[str], known: list[str]) -> dict:
    """The config less its bad values (KEY or section.KEY) and its unknown or broken sections."""
    return {name: {key: value for key, value in values.items() if key not in bad_keys
                   and f"{name}.{key}" not in bad_keys} for name, values in data.items()
            if name in known and name not in bad_keys and isinstance(values, dict)}


def _rules(data: dict, source, arg_sections: dict[str, str], check_model: bool) -> list[ConfigIssue]:
    """The rules across values (buckets, caching, arguments, choices, the model) of a config whose values are
    each sound; none for a config too broken to judge."""
    from pydantic import ValidationError

    try:
        ds = DatasetSection.model_validate(data.get("dataset", {}))
    except ValidationError:
        return []
    args = {key: value for section in ARG_SECTIONS for key, value in data.get(section, {}).items()}
    found = rules.bucket_rules(ds, source) + rules.caching_rules(ds, args, source) + rules.argument_rules(args, source)
    found += choice_rules(args, source)
    if check_model:
        found += rules.model_rules(args, source)
    for issue in found:
        if issue.key in arg_sections:
            issue.key = f"{arg_sections[issue.key]}.{issue.key}"
    return found


def _first_source(provenance: dict, section: str) -> str:
    for key, where in provenance.items():
        if key.startswith(section + "."):
            return where
    return ""


def _validate_wrapper(name: str, values: dict, provenance: dict) -> list[ConfigIssue]:
    try:
        WRAPPER_SECTIONS[name].model_validate(values)
        return []
    except ValidationError as error:
        fields = list(WRAPPER_SECTIONS[name].model_fields)
        found = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"][:1])
            full = f"{name}.{key}"
            problem = "unknown key" if item["type"] == "extra_forbidden" else item["msg"].removeprefix("Value error, ")
            suggestion = closest(key, fields) if item["type"] == "extra_forbidden" else None
            found.append(ConfigIssue(full, problem, provenance.get(full, "default"), suggestion))
        return found


def _validate_args(section: str, values: dict, provenance: dict, seen: dict[str, str]) -> list[ConfigIssue]:
    table = load_table()
    issues = []
    for key, value in values.items():
        full = f"{section}.{key}"
        where = provenance.get(full, "")
        if key in seen:
            issues.append(ConfigIssue(full, f"also set in [{seen[key]}]; sd-scripts flattens sections and the later "
                                      "one would silently win: keep one", where))
            continue
        seen[key] = section
        if key in RESERVED_ARGS:
            issues.append(ConfigIssue(full, f"set by kohya-wrap: {RESERVED_ARGS[key]}", where))
        elif key in DATASET_ARGS:
            issues.append(ConfigIssue(full, f"is a dataset option: set dataset.{key} instead (sd-scripts ignores it "
                                      "when a dataset config is used)", where))
        elif key not in table:
            issues.append(ConfigIssue(full, "not an argument of sdxl_train_network.py at the pinned commit", where,
                                      closest(key, table)))
        elif key == "sample_prompts" and isinstance(value, list):
            if not all(isinstance(line, str) for line in value):
                issues.append(ConfigIssue(full, "a list of prompt strings or a file path", where))
        elif key == "sample_prompts" and isinstance(value, dict):
            problem = samples.table_problem(value)
            if problem:
                issues.append(ConfigIssue(full, problem, where))
        else:
            problem = check_value(table[key], value)
            if problem:
                issues.append(ConfigIssue(full, problem, where))
    return issues


def _with_defaults(data: dict) -> dict:
    complete = copy.deepcopy(data)
    for name, model in WRAPPER_SECTIONS.items():
        complete[name] = model.model_validate(data.get(name, {})).model_dump(exclude_none=True)
    return complete

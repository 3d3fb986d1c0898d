"""Optimizer and scheduler names sd-scripts accepts at the pinned commit (datasets_schema/sd_scripts_choices.json,
written by scripts/gen_choice_table.py), checked before launch with a did-you-mean."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import ConfigIssue
from kohya_wrap.presets.suggest import closest

TABLE = "sd_scripts_choices.json"


@lru_cache(maxsize=2)
def load_choices(path: Path | None = None) -> dict:
    return json.loads((path or paths.args_table_path().with_name(TABLE)).read_text(encoding="utf-8"))


def _did_you_mean(value: str, candidates: list[str]) -> str | None:
    """Closest candidate, compared without case (sd-scripts lower-cases the names it knows)."""
    lowered = {candidate.lower(): candidate for candidate in candidates}
    match = closest(value.lower(), lowered)
    return lowered[match] if match else None


def optimizer_problem(value: str) -> tuple[str, str | None] | None:
    """(problem, suggestion) for an optimizer_type sd-scripts would fail on, else None."""
    table = load_choices()["optimizer_type"]
    if not value or "." in value:  # "" is sd-scripts' default (AdamW); module.Class is imported as given
        return None
    if value.lower() in {name.lower() for name in table["named"]} or value in table["torch_optim"]:
        return None
    shown = ", ".join(table["named"][:8])
    problem = (f"{value!r} is not an optimizer sd-scripts knows at the pinned commit: one of its own ({shown}, ...), "
               "a torch.optim class (case-sensitive), or module.Class")
    return problem, _did_you_mean(value, table["named"] + table["torch_optim"])


def scheduler_problem(value: str, args: dict) -> tuple[str, str | None] | None:
    """(problem, suggestion) for an lr_scheduler sd-scripts would fail on, else None."""
    table = load_choices()["lr_scheduler"]
    if args.get(table["overridden_by"]) or value in table["names"]:
        return None
    for prefix, form in table["prefixes"].items():
        if value.startswith(prefix):
            return _prefixed_problem(value, prefix, form, args)
    names = table["names"] + list(table["prefixes"].values())
    return (f"{value!r} is not a scheduler sd-scripts knows: one of {', '.join(names)}",
            _did_you_mean(value, table["names"]))


def _prefixed_problem(value: str, prefix: str, form: str, args: dict):
    adafactor = str(args.get("optimizer_type", "")).lower() == "adafactor"
    if prefix == "adafactor" and not adafactor:
        return "the adafactor scheduler needs optimizer_type = 'Adafactor' (sd-scripts asserts it)", None
    if prefix == "adafactor" and value == prefix:
        # get_optimizer rewrites it to adafactor:<lr> itself when Adafactor runs with relative_step (its default)
        return None
    try:
        float(value.split(":")[1])
    except (IndexError, ValueError):
        return f"{value!r}: write it as {form!r}, e.g. '{prefix}:1e-4'", None
    return None


def choice_rules(args: dict, source) -> list[ConfigIssue]:
    """Issues for optimizer_type and lr_scheduler values that sd-scripts would refuse after the model loads."""
    issues = []
    checks = (("optimizer_type", lambda v: optimizer_problem(v)), ("lr_scheduler", lambda v: scheduler_problem(v, args)))
    for key, check in checks:
        value = args.get(key)
        found = check(value) if isinstance(value, str) else None
        if found:
            problem, suggestion = found
            issues.append(ConfigIssue(key, problem, source(key), suggestion))
    return issues

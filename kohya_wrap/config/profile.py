"""The platform profile as one more source of values: substitutions written into the config with their
provenance ("platform profile"), validated with everything else."""

from __future__ import annotations

from typing import Callable

from kohya_wrap.config.schema import ARG_SECTIONS

SOURCE = "platform profile"
# profile(flat sd-scripts args) -> (new flat args, substitutions); backend.platform.apply_profile with the
# facts of the machine that will run the job, bound by the runner.
Profile = Callable[[dict], tuple[dict, list]]


def flat_args(data: dict) -> dict:
    flat: dict = {}
    for name in ARG_SECTIONS:
        flat.update(data.get(name, {}))
    return flat


def apply_profile(data: dict, provenance: dict, profile: Profile | None) -> list:
    """Change data in place as the profile says (unless [platform] substitutions = false); returns them."""
    if profile is None or not (data.get("platform") or {}).get("substitutions", True):
        return []
    old_args = flat_args(data)
    new_args, substitutions = profile(old_args)
    for section in ARG_SECTIONS:
        table = data.get(section, {})
        for key in list(table):
            if key not in new_args:
                del table[key]
                provenance.pop(f"{section}.{key}", None)
            elif table[key] != new_args[key]:
                table[key] = new_args[key]
                provenance[f"{section}.{key}"] = SOURCE
    for key, value in new_args.items():
        if key not in old_args:
            data.setdefault("training", {})[key] = value
            provenance[f"training.{key}"] = SOURCE
    return list(substitutions)

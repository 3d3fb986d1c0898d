"""sd-scripts' own arguments at the pinned commit, and type/choice checks of preset values against them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kohya_wrap import paths


# nargs="*" arguments whose reader also accepts one plain number from a TOML config file.
SCALAR_LISTS = {"text_encoder_lr"}


@dataclass(frozen=True)
class ArgSpec:
    """One argument of sdxl_train_network.py's parser."""

    name: str
    type: str
    action: str
    default: object
    choices: tuple | None
    nargs: object

    @property
    def is_list(self) -> bool:
        return self.nargs in ("*", "+") or isinstance(self.nargs, int) and self.nargs > 1


@lru_cache(maxsize=4)
def load_table(path: Path | None = None) -> dict[str, ArgSpec]:
    raw = json.loads((path or paths.args_table_path()).read_text(encoding="utf-8"))
    return {
        name: ArgSpec(
            name=name,
            type=spec["type"],
            action=spec["action"],
            default=spec["default"],
            choices=tuple(spec["choices"]) if spec["choices"] is not None else None,
            nargs=spec["nargs"],
        )
        for name, spec in raw["args"].items()
    }


def table_commit(path: Path | None = None) -> str:
    return json.loads((path or paths.args_table_path()).read_text(encoding="utf-8"))["commit"]


def _scalar_ok(kind: str, value) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("float", "int_or_float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def check_value(spec: ArgSpec, value) -> str | None:
    """The problem with VALUE for this argument, or None. TOML values reach sd-scripts untyped, so types matter."""
    if spec.is_list and spec.name in SCALAR_LISTS and _scalar_ok(spec.type, value):
        return None
    if spec.is_list:
        items = value if isinstance(value, list) else None
        if items is None:
            return f"expected a list of {spec.type} values, e.g. [{_example(spec.type)}]"
        bad = [item for item in items if not _scalar_ok(spec.type, item)]
        if bad:
            return f"expected a list of {spec.type} values, got {bad[0]!r}"
    elif not _scalar_ok(spec.type, value):
        return f"expected {_describe(spec.type)}, got {type(value).__name__} {value!r}"
    if spec.choices is not None:
        values = value if isinstance(value, list) else [value]
        allowed = [choice for choice in spec.choices if choice is not None]
        for item in values:
            if item not in allowed:
                return f"{item!r} is not one of: {', '.join(map(str, allowed))}"
    return None


def _describe(kind: str) -> str:
    return {"bool": "true or false", "int": "an integer", "float": "a number", "int_or_float": "a number"}.get(
        kind, "a string"
    )


def _example(kind: str) -> str:
    return {"int": "1, 2", "float": "0.1, 0.2", "bool": "true"}.get(kind, '"a", "b"')

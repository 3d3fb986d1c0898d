"""Regenerate datasets_schema/sd_scripts_args.json from the real parser of sdxl_train_network.py.

Run with the backend's interpreter, from anywhere:
    /path/to/venv/bin/python scripts/gen_arg_table.py /path/to/sd-scripts [--commit SHA] [--out FILE]
Only facts are recorded (name, type, default, choices, nargs, action); help texts are not copied.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TYPE_NAMES = {int: "int", float: "float", str: "str"}


def action_kind(action: argparse.Action) -> str:
    name = type(action).__name__
    if name in ("_StoreTrueAction", "_StoreFalseAction", "BooleanOptionalAction"):
        return {"_StoreTrueAction": "store_true", "_StoreFalseAction": "store_false"}.get(name, "bool_optional")
    if name == "_StoreConstAction":
        return "store_const"
    if name == "_AppendAction":
        return "append"
    return "store"


def type_name(action: argparse.Action) -> str:
    kind = action_kind(action)
    if kind in ("store_true", "store_false", "bool_optional"):
        return "bool"
    if action.type is None:
        return "str"
    return TYPE_NAMES.get(action.type, getattr(action.type, "__name__", "str"))


def jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def describe(action: argparse.Action) -> dict:
    nargs = action.nargs
    return {
        "type": type_name(action),
        "action": action_kind(action),
        "default": jsonable(action.default),
        "choices": jsonable(list(action.choices)) if action.choices is not None else None,
        "nargs": nargs if nargs is None or isinstance(nargs, str) else int(nargs),
        "flags": [flag for flag in action.option_strings],
    }


def build_table(sd_scripts: Path) -> dict:
    os.chdir(sd_scripts)
    sys.path.insert(0, str(sd_scripts))
    import sdxl_train_network  # noqa: E402  (the backend's own module)

    parser = sdxl_train_network.setup_parser()
    args = {}
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        args[action.dest] = describe(action)
    return dict(sorted(args.items()))


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("sd_scripts", type=Path)
    cli.add_argument("--commit", default="48d368fa557731ad0488c07304dfeba8c07910eb")
    cli.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "datasets_schema" / "sd_scripts_args.json")
    opts = cli.parse_args()
    out = opts.out.resolve()
    table = {"script": "sdxl_train_network.py", "commit": opts.commit, "args": build_table(opts.sd_scripts.resolve())}
    out.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(table['args'])} arguments to {out}")


if __name__ == "__main__":
    main()

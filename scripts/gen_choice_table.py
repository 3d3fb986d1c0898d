"""Regenerate datasets_schema/sd_scripts_choices.json: the optimizer and scheduler names sd-scripts accepts.

Run with the backend's interpreter (it imports torch, transformers and diffusers, the versions the trainer
uses), from anywhere:
    /path/to/venv/bin/python scripts/gen_choice_table.py /path/to/sd-scripts [--commit SHA] [--out FILE]

Facts, read from library/train_util.py at the commit:
- get_optimizer lower-cases optimizer_type and compares it with the names written there as "Name".lower();
  a name none of them matches (and without a ".") is looked up case-sensitively with getattr(torch.optim,
  name); a name with a "." is imported as module.Class.
- get_scheduler_fix: lr_scheduler_type (any class) wins over lr_scheduler; "adafactor:<initial lr>" is its own
  form; diffusers' PIECEWISE_CONSTANT value is accepted; every other name goes through transformers'
  SchedulerType(name), so its values are the names.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lowered_constant(node) -> str | None:
    """"Name".lower() -> Name."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "lower"
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
        return node.func.value.value
    return None


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name)


def optimizer_names(tree: ast.Module) -> list[str]:
    """Every name get_optimizer compares the lower-cased optimizer_type with (`== "Name".lower()`)."""
    names: list[str] = []
    for node in ast.walk(_function(tree, "get_optimizer")):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "optimizer_type"
                and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
            name = _lowered_constant(node.comparators[0])
            if name and name not in names:
                names.append(name)
    return names


def scheduler_prefixes(tree: ast.Module) -> list[str]:
    """Names get_scheduler_fix tests with name.startswith("..."), e.g. adafactor."""
    found = []
    for node in ast.walk(_function(tree, "get_scheduler_fix")):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "name"
                and node.args and isinstance(node.args[0], ast.Constant)):
            found.append(node.args[0].value)
    return found


def torch_optimizers() -> list[str]:
    import torch

    return sorted(name for name in dir(torch.optim) if isinstance(getattr(torch.optim, name), type)
                  and issubclass(getattr(torch.optim, name), torch.optim.Optimizer) and name != "Optimizer")


def scheduler_names() -> list[str]:
    from diffusers.optimization import SchedulerType as DiffusersSchedulerType
    from transformers import SchedulerType

    return [member.value for member in SchedulerType] + [DiffusersSchedulerType.PIECEWISE_CONSTANT.value]


def versions() -> dict:
    import diffusers
    import torch
    import transformers

    return {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
            "diffusers": diffusers.__version__}


def build_table(sd_scripts: Path, commit: str) -> dict:
    tree = ast.parse((sd_scripts / "library" / "train_util.py").read_text(encoding="utf-8"))
    return {
        "source": "library/train_util.py (get_optimizer, get_scheduler_fix)",
        "commit": commit,
        "versions": versions(),
        "optimizer_type": {
            "default": "AdamW",
            "named": optimizer_names(tree),  # matched case-insensitively
            "torch_optim": torch_optimizers(),  # matched case-sensitively
            "dotted": "a name with a '.' is imported as module.Class",
        },
        "lr_scheduler": {
            "default": "constant",
            "names": scheduler_names(),
            "prefixes": {prefix: f"{prefix}:<initial learning rate>" for prefix in scheduler_prefixes(tree)},
            "overridden_by": "lr_scheduler_type",
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sd_scripts", type=Path)
    parser.add_argument("--commit", help="Commit of the checkout (default: git rev-parse HEAD).")
    parser.add_argument("--out", type=Path, default=ROOT / "datasets_schema" / "sd_scripts_choices.json")
    args = parser.parse_args(argv)
    commit = args.commit or subprocess.run(["git", "-C", str(args.sd_scripts), "rev-parse", "HEAD"], check=True,
                                           capture_output=True, text=True).stdout.strip()
    table = build_table(args.sd_scripts.resolve(), commit)
    args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(table['optimizer_type']['named'])} named optimizers, "
          f"{len(table['optimizer_type']['torch_optim'])} torch.optim classes, "
          f"{len(table['lr_scheduler']['names'])} schedulers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

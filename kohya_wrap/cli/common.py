"""Small helpers shared by command modules: JSON output, override arguments, tables."""

from __future__ import annotations

import json

import click

from kohya_wrap.cli import CONTEXT_SETTINGS


def echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")

overrides_argument = click.argument("overrides", nargs=-1, metavar="[KEY=VALUE | ~KEY]...")

__all__ = ["CONTEXT_SETTINGS", "echo_json", "json_option", "overrides_argument"]

"""Small helpers shared by command modules: JSON output, override arguments, tables."""

from __future__ import annotations

import json
import re

import click

from kohya_wrap.cli import CONTEXT_SETTINGS


def echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(text) -> str:
    """TEXT for a terminal: control characters (an escape sequence in a file name, a NUL, a carriage
    return) shown as \\xNN / \\uNNNN escapes, never sent raw. Tabs and newlines stay."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], str(text))


def echo(text="", **options) -> None:
    """click.echo of one line through safe_text: names from the user's files reach the terminal escaped."""
    click.echo(safe_text(text), **options)


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")

overrides_argument = click.argument("overrides", nargs=-1, metavar="[KEY=VALUE | ~KEY]...")

__all__ = ["CONTEXT_SETTINGS", "echo_json", "json_option", "overrides_argument", "safe_text"]

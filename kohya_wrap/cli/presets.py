"""`kohya-wrap presets`: list, show, copy and diff the shipped presets."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option
from kohya_wrap.presets import catalog


@click.group(context_settings=CONTEXT_SETTINGS)
def presets():
    """List, show, copy and compare presets.

    \b
    Example:
      kohya-wrap presets ls
      kohya-wrap presets cp sdxl-style my-style.toml
    """


@presets.command("ls", context_settings=CONTEXT_SETTINGS)
@json_option
def ls_command(as_json):
    """List shipped presets with their purpose and GPU memory target.

    \b
    Example:
      kohya-wrap presets ls --json
    """
    infos = catalog.list_presets()
    if as_json:
        echo_json([info.to_dict() for info in infos])
        return
    width = max(len(info.name) for info in infos)
    click.echo(f"{'NAME':<{width}}  {'VRAM':>6}  PURPOSE")
    for info in infos:
        vram = f"{info.vram_gb:g} GB" if info.vram_gb else "-"
        click.echo(f"{info.name:<{width}}  {vram:>6}  {info.purpose}")


@presets.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
def show_command(name):
    """Print a preset exactly as shipped, comments included.

    \b
    Example:
      kohya-wrap presets show sdxl-lowvram
    """
    click.echo(catalog.find_preset(name).read_text(encoding="utf-8"), nl=False)


@presets.command("cp", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
def cp_command(name, dest, force):
    """Copy a preset to DEST (a .toml file or a folder) to edit it.

    \b
    Example:
      kohya-wrap presets cp sdxl-pixel-art-balanced my-pixels.toml
    """
    target = catalog.copy_preset(name, dest, force=force)
    click.echo(f"Copied {name} to {target}")


@presets.command("diff", context_settings=CONTEXT_SETTINGS)
@click.argument("a")
@click.argument("b")
@json_option
def diff_command(a, b, as_json):
    """Show the keys whose values differ between two presets (names or files).

    \b
    Example:
      kohya-wrap presets diff sdxl-pixel-art-fast sdxl-pixel-art-quality
    """
    rows = catalog.diff_presets(a, b)
    if as_json:
        echo_json([{"key": key, "a": left, "b": right} for key, left, right in rows])
        return
    if not rows:
        click.echo("No differences.")
    for key, left, right in rows:
        click.echo(f"{key}: {_show(left)} -> {_show(right)}")


def _show(value) -> str:
    return "(absent)" if value is None else repr(value)

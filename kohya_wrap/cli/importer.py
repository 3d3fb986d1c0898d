"""`kohya-wrap import`: turn other tools' Kohya configs and LoRA files into kohya-wrap presets."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option

FORMATS = ("kohya-ss", "lora-easy", "sd-scripts", "lora")


@click.group("import", context_settings=CONTEXT_SETTINGS)
def import_group():
    """Adopt existing Kohya work: presets, configs and LoRA metadata become kohya-wrap presets.

    \b
    Example:
      kohya-wrap import preset "SDXL - LoRA AI_Now prodigy v1.0.json" --out prodigy.toml
    """


@import_group.command("preset", context_settings=CONTEXT_SETTINGS)
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--from", "fmt", type=click.Choice(FORMATS), default=None,
              help="What FILE is (default: told from its content).")
@click.option("--dataset-config", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="sd-scripts --dataset_config TOML that goes with an sd-scripts config file.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Preset file to write (default: ./<source name>.toml).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@json_option
def preset_command(file, fmt, dataset_config, out, force, as_json):
    """Write a kohya-wrap preset from FILE: a kohya_ss GUI JSON, a LoRA_Easy TOML, an sd-scripts
    config (with its dataset config) or a LoRA .safetensors (from its ss_* metadata).

    Every value keeps its source as a comment; the file opens with what was carried over, what was
    translated (and how) and what was dropped (and why). The result is checked with config validate.
    SD1.x/SD2/SD3/FLUX sources are refused: kohya-wrap trains SDXL LoRAs.

    \b
    Example:
      kohya-wrap import preset "SDXL - LoRA AI_Now prodigy v1.0.json" --out prodigy.toml
      kohya-wrap import preset config.toml --from sd-scripts --dataset-config dataset.toml
      kohya-wrap import preset my_lora.safetensors --json
    """
    from kohya_wrap.importers.preset import import_preset

    result = import_preset(file, fmt, dataset_config, out, force)
    if as_json:
        echo_json(result.to_dict())
    else:
        imp = result.imported
        click.echo(f"Wrote {result.out} from {imp.label} {file.name}: {len(imp.carried)} carried over, "
                   f"{len(imp.translated)} translated, {len(imp.dropped)} dropped (see its header).")
        for issue in result.problems:
            click.echo(f"  - {issue.line()}", err=True)
        if result.valid:
            click.echo(f"Valid. Next: kohya-wrap train {result.out} --dataset DIR --model BASE.safetensors")
    if not result.valid:
        click.echo(f"Error: {result.out} does not pass config validate ({len(result.problems)} problems above); "
                   "the source holds settings sd-scripts would refuse too: fix those keys.", err=True)
        click.get_current_context().exit(2)

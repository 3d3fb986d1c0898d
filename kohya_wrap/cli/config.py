"""`kohya-wrap config`: validate a preset with overrides, render sd-scripts' files from it."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option, overrides_argument


@click.group(context_settings=CONTEXT_SETTINGS)
def config():
    """Validate configs and render sd-scripts' dataset/args files.

    \b
    Example:
      kohya-wrap config validate sdxl-style network.network_dim=16
    """


@config.command("validate", context_settings=CONTEXT_SETTINGS)
@click.argument("preset")
@overrides_argument
@click.option("--model", type=click.Path(path_type=Path), help="Base model to check for existence.")
@json_option
def validate_command(preset, overrides, model, as_json):
    """Check PRESET (name or .toml file) plus overrides; print every problem at once.

    Overrides are KEY=VALUE (the value is read as TOML, else as a string) or ~KEY to remove a key.

    \b
    Example:
      kohya-wrap config validate sdxl-style network.network_dim=16 ~training.noise_offset
    """
    from kohya_wrap.config.resolve import resolve

    resolved = resolve(preset, overrides, model=model, check_model=model is not None)
    if as_json:
        echo_json({"valid": True, "config": resolved.data, "provenance": resolved.provenance})
        return
    click.echo(f"{preset}: valid ({len(resolved.args())} sd-scripts arguments).")


@config.command("render", context_settings=CONTEXT_SETTINGS)
@click.argument("preset")
@overrides_argument
@click.option("--dataset", "dataset", required=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Training images: a folder of N_class subfolders, or one flat folder.")
@click.option("--reg", type=click.Path(path_type=Path, exists=True, file_okay=False), help="Regularisation images.")
@click.option("--model", required=True, type=click.Path(path_type=Path), help="SDXL base checkpoint (.safetensors).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write into.")
@click.option("--name", default=None, help="output_name for the LoRA (default: the preset's name).")
def render_command(preset, overrides, dataset, reg, model, out_dir, name):
    """Write dataset.toml, args.toml, accelerate.yaml and job.toml for PRESET into --out.

    \b
    Example:
      kohya-wrap config render sdxl-style --dataset ./data --model base.safetensors --out ./job
    """
    from kohya_wrap.runner.prepare import render_config

    files, findings = render_config(preset, overrides, dataset=dataset, reg=reg, model=model, out_dir=out_dir,
                                    name=name)
    for finding in findings:
        click.echo(f"{finding.severity}: {finding.path or ''} {finding.message}", err=True)
    for file_name in files:
        click.echo(str(Path(out_dir) / file_name))

"""The `kohya-wrap` command: a lazy click group over the per-noun command modules."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from kohya_wrap import __version__
from kohya_wrap.errors import KohyaWrapError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# command name -> "module:attribute"; modules are imported only when the command is used or listed.
COMMANDS = {
    "presets": "kohya_wrap.cli.presets:presets",
    "config": "kohya_wrap.cli.config:config",
    "data": "kohya_wrap.cli.data:data",
    "backend": "kohya_wrap.cli.backend:backend",
    "doctor": "kohya_wrap.cli.doctor:doctor",
    "train": "kohya_wrap.cli.train:train",
    "report": "kohya_wrap.cli.report:report",
    "logs": "kohya_wrap.cli.logs:logs",
    "jobs": "kohya_wrap.cli.jobs:jobs",
    "models": "kohya_wrap.cli.models:models",
    "queue": "kohya_wrap.cli.queue:queue",
    "worker": "kohya_wrap.cli.worker:worker",
    "registry": "kohya_wrap.cli.registry:registry",
    "estimate": "kohya_wrap.cli.estimate:estimate",
    "validate": "kohya_wrap.cli.validate:validate",
    "generate": "kohya_wrap.cli.validate:generate",
    "export": "kohya_wrap.cli.validate:export",
    "import": "kohya_wrap.cli.importer:import_group",
    "serve": "kohya_wrap.cli.serve:serve",
}


class UserFacingError(click.ClickException):
    """A KohyaWrapError shown as one clean message with its exit code."""

    def __init__(self, error: KohyaWrapError):
        super().__init__(error.render())
        self.exit_code = error.exit_code

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    """Top-level group that imports command modules on demand and turns our errors into clean exits."""

    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if _module_present(COMMANDS[name]))

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None or not _module_present(target):
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KohyaWrapError as error:
            raise UserFacingError(error) from None


def _module_present(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="kohya-wrap")
def cli():
    """Train SDXL LoRAs with kohya-ss/sd-scripts: reliable, repeatable, observable.

    \b
    Example:
      kohya-wrap train sdxl-style --example --dry-run
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="kohya-wrap")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)

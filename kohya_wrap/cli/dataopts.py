"""Options and helpers shared by the `data` and `data captions` commands: resolution and bucket options, --preset settings, progress bars, findings output."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import click

from kohya_wrap.cli.common import echo, overrides_argument
from kohya_wrap.errors import DatasetError

dir_arg = click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
reg_option = click.option("--reg", "reg_dir", type=click.Path(path_type=Path, file_okay=False),
                          help="Regularisation root (same layout rules).")
ext_option = click.option("--caption-extension", default=".txt", show_default=True, help="Caption file extension.")


def resolution_option(func):
    return click.option("--resolution", default="1024", show_default=True, callback=parse_resolution,
                        help="Training resolution: N or W,H.")(func)


def bucket_options(func):
    for option in reversed([
        click.option("--min-bucket-reso", default=256, show_default=True, type=int),
        click.option("--max-bucket-reso", default=1024, show_default=True, type=int,
                     help="sd-scripts' default; SDXL presets often use 2048."),
    ]):
        func = option(func)
    return func


def preset_options(func):
    """--preset P and KEY=VALUE overrides: judge with the settings `train P` would use."""
    func = overrides_argument(func)
    return click.option("--preset", help="Judge with this preset's settings (name or .toml), as `train` would; "
                        "KEY=VALUE overrides after DIRECTORY apply to it. Options given here still win.")(func)


def preset_settings(preset, overrides, directory, reg_dir):
    """The dataset settings `train PRESET --dataset DIRECTORY` would use (None without --preset)."""
    if not preset:
        if overrides:
            raise click.UsageError(f"KEY=VALUE overrides ({overrides[0]} ...) apply to a preset: add --preset P")
        return None
    from kohya_wrap.config.build import dataset_settings
    from kohya_wrap.config.resolve import resolve

    config = resolve(preset, list(overrides), dataset=directory, reg=reg_dir)
    return config, dataset_settings(config)


def merged_settings(ctx, preset_settings, given: dict) -> dict:
    """Each setting's value: an option typed on the command line wins, else the preset's, else the option's
    default. given maps setting name -> (option parameter name, value)."""
    from click.core import ParameterSource

    chosen = {}
    for name, (param, value) in given.items():
        typed = ctx.get_parameter_source(param) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
        use_preset = preset_settings is not None and not typed and name in preset_settings
        chosen[name] = preset_settings[name] if use_preset else value
    return chosen


def same_names(**values) -> dict:
    return {name: (name, value) for name, value in values.items()}


def settings_line(preset: str, s: dict) -> str:
    width, height = s["resolution"]
    buckets = (f"buckets {s['min_bucket_reso']}-{s['max_bucket_reso']} step {s.get('bucket_reso_steps', 64)}"
               if s.get("enable_bucket", True) else "no buckets")
    return (f"Judged with preset {preset}: resolution {width}x{height}, {buckets}"
            + (f", token limit {s['token_limit']}" if "token_limit" in s else "")
            + f", captions {s['caption_extension']}.")


def parse_resolution(ctx, param, value: str) -> tuple[int, int]:
    parts = value.replace("x", ",").split(",")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise click.BadParameter("use N or W,H, e.g. 1024 or 1024,768") from None
    if len(numbers) not in (1, 2) or min(numbers) < 64:
        raise click.BadParameter("use N or W,H with sides of at least 64")
    return (numbers[0], numbers[-1])


@contextmanager
def progress_bar(label: str, quiet: bool = False):
    """A rich progress bar on stderr; yields a callable(done, total)."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:  # piped or captured: a bar would only leave stray lines behind
        yield None
        return
    # auto_refresh off: no refresh thread, so the check's worker pool may use the cheap fork start
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, auto_refresh=False) as bar:
        task = bar.add_task(label, total=None)
        last = [0.0]

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            now = time.monotonic()
            if now - last[0] > 0.1 or done == total:
                last[0] = now
                bar.refresh()

        yield update


def cache_path(directory: Path, no_cache: bool) -> Path | None:
    if no_cache:
        return None
    from kohya_wrap.dataset.factcache import cache_path_for

    return cache_path_for(directory)


def print_findings(findings, show_all: bool) -> None:
    """Summary: one block per problem kind with a count, an example and the fix; --all: every finding."""
    from kohya_wrap.dataset.findings import count_by_severity, summarise

    if show_all:
        rows = [{**f.to_dict(), "count": 1, "example": f.path} for f in findings]
    else:
        rows = summarise(findings)
    for row in rows:
        files = f"{row['count']} file{'s' if row['count'] != 1 else ''}" if not show_all else ""
        echo(f"{row['severity']:8} {row['code']:26} {files:>10}  {row['example'] or ''}")
        echo(f"{'':8} {row['message']}")
        if row["hint"]:
            echo(f"{'':8} fix: {row['hint']}")
    counts = count_by_severity(findings)
    echo(f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes.")


def fail_on_errors(findings) -> None:
    from kohya_wrap.dataset.findings import count_by_severity

    errors = count_by_severity(findings)["error"]
    if errors:
        raise DatasetError(f"{errors} error{'s' if errors != 1 else ''} in the dataset would stop or spoil a run.",
                           hint="Fix them (see the hints above), then check again.")

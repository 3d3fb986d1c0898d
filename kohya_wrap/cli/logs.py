"""`kohya-wrap logs`: print or follow a job's train.log, and parse any sd-scripts log into events."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, json_option
from kohya_wrap.errors import KohyaWrapError

LOG_NAME = "train.log"


class DefaultToShow(click.Group):
    """A group whose first argument, when it names no subcommand, is a job for the default `show` command."""

    default_command = "show"

    def parse_args(self, ctx, args):
        if args and args[0].startswith("-") and args[0] not in self.get_help_option_names(ctx):
            args = [self.default_command, *args]  # `logs -f JOB`
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx, args):
        if args and self.get_command(ctx, args[0]) is None:
            args = [self.default_command, *args]
        return super().resolve_command(ctx, args)


@click.group("logs", cls=DefaultToShow, context_settings=CONTEXT_SETTINGS,
             subcommand_metavar="JOB [-f] | COMMAND [ARGS]...")
def logs():
    """Show a job's training log, or turn any sd-scripts log into events.

    \b
    Examples:
      kohya-wrap logs 20261121-082350-shape-1a2b       print the job's train.log
      kohya-wrap logs 20261121-082350-shape-1a2b -f    follow it while the job runs
      kohya-wrap logs parse stdout.log stderr.log --json
    """


@logs.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("job")
@click.option("-f", "--follow", "keep_following", is_flag=True,
              help="Keep printing what the job writes; ends when the job has exited.")
def show(job: str, keep_following: bool) -> None:
    """Print a job's train.log: the trainer's raw output, progress bars included.

    JOB is a job id under the runs folder (a unique prefix is enough), a job folder, or a log file.

    \b
    Example:
      kohya-wrap logs 20261121-082350-shape -f
    """
    log = find_log(job)
    out = sys.stdout.buffer
    if not keep_following:
        if not log.is_file():
            raise KohyaWrapError(f"{log} does not exist yet", hint="the job has not started; try again with -f")
        with log.open("rb") as handle:
            while data := handle.read(1 << 16):
                out.write(data)
        out.flush()
        return
    from kohya_wrap.logs.follow import follow

    job_dir = log.parent
    for data in follow(log, stop=lambda: job_has_exited(job_dir)):
        out.write(data)
        out.flush()


@logs.command("parse", context_settings=CONTEXT_SETTINGS)
@click.argument("logfiles", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tensorboard", "tensorboard_dir", type=click.Path(exists=True, path_type=Path),
              help="The run's TensorBoard folder (logging_dir): step events get its exact loss and lr.")
@click.option("--step-offset", type=int, default=None,
              help="Steps done before this run (a resume). Default: read from the log.")
@json_option
def parse(logfiles: tuple[Path, ...], tensorboard_dir: Path | None, step_offset: int | None, as_json: bool) -> None:
    """Print the events of any sd-scripts log (stdout and/or stderr, rich or --console_log_simple).

    Give a split run's stdout before its stderr. With --json every line is one event of events.jsonl.

    \b
    Example:
      kohya-wrap logs parse stdout.log stderr.log --tensorboard logs/ --json
    """
    from kohya_wrap.logs.parse import parse_files

    events = parse_files(list(logfiles), step_offset)
    if tensorboard_dir is not None:
        from kohya_wrap.logs.tensorboard import read_scalars, with_tensorboard

        events = with_tensorboard(events, read_scalars(tensorboard_dir))
    if as_json:
        for event in events:
            click.echo(event.to_json())
        return
    for event in events:
        click.echo(format_event(event.to_dict()))
    counts = Counter(event.type for event in events)
    click.echo(f"\n{counts['step']} steps, {counts['saved']} saves, {counts['sample']} samples, "
               f"{counts['warning']} warnings, {counts['error']} errors")


def find_log(job: str) -> Path:
    """JOB as a log file, a job folder, or a job reference (job.folder.find's one rule)."""
    from kohya_wrap.job.folder import find

    given = Path(job).expanduser()
    if given.is_file():
        return given
    if given.is_dir():
        return given / LOG_NAME
    return find(job) / LOG_NAME


def job_has_exited(job_dir: Path) -> bool:
    """The runner wrote the job's end: summary.json, or an `exited` event in events.jsonl."""
    if (job_dir / "summary.json").is_file():
        return True
    events = job_dir / "events.jsonl"
    if not events.is_file():
        return False
    with events.open("rb") as handle:
        handle.seek(max(events.stat().st_size - 4096, 0))
        return b'"type": "exited"' in handle.read()


def format_event(event: dict) -> str:
    """One line (two for errors: the hint) of the human table."""
    t = event.get("t") or 0
    clock = time.strftime("%H:%M:%S", time.localtime(t)) if t else "-"
    kind = event["type"]
    details = _DETAILS.get(kind, _generic)(event)
    line = f"{clock:>8}  {kind:<8} {details}"
    if kind == "error" and event.get("hint"):
        line += f"\n{'':>8}  {'':<8} hint: {event['hint']}"
    return line


def _step(e: dict) -> str:
    parts = [f"{e.get('step')}/{e.get('total')}"]
    for key, label in (("loss", "loss"), ("avr_loss", "avr_loss"), ("lr", "lr")):
        if e.get(key) is not None:
            parts.append(f"{label} {e[key]:.6g}")
    if e.get("s_per_it") is not None:
        parts.append(f"{e['s_per_it']:g} s/it")
    if e.get("it_s") is not None:
        parts.append(f"{e['it_s']:g} it/s")
    if e.get("eta_s") is not None:
        parts.append(f"eta {e['eta_s'] // 60}:{e['eta_s'] % 60:02d}")
    if e.get("nonfinite"):
        parts.append("NON-FINITE " + ",".join(e["nonfinite"]))
    return "  ".join(parts)


def _generic(e: dict) -> str:
    return "  ".join(f"{k}={v}" for k, v in e.items() if k not in ("type", "t"))


_DETAILS = {
    "step": _step,
    "phase": lambda e: e.get("name", ""),
    "epoch": lambda e: f"{e.get('epoch')}/{e.get('total')}",
    "saved": lambda e: f"{e.get('what', '')} {e.get('path')}" + (f" (step {e['step']})" if "step" in e else "")
    + (" final" if e.get("final") else ""),
    "sample": lambda e: f"step {e.get('step')} #{e.get('index')} {e.get('prompt', '')!r}",
    "warning": lambda e: (f"[{e['kind']}] " if e.get("kind") else "") + e.get("message", ""),
    "error": lambda e: f"{e.get('kind')}: {e.get('message', '')}",
}

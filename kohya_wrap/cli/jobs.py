"""`kohya-wrap jobs`: list, show, follow, stop and remove recorded training jobs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option, safe_text

# registry.schema's statuses (queued, prepared, running and the terminal ones), spelled out so -h stays light
STATUSES = ("queued", "prepared", "running", "succeeded", "failed", "cancelled", "stopped", "lost")


@click.group(context_settings=CONTEXT_SETTINGS)
def jobs():
    """Training jobs in the registry (queued, running and finished).

    A job whose row says running but whose process is gone is marked `lost`, with the cause, the
    next time you look.

    \b
    Example:
      kohya-wrap jobs ls --status running
      kohya-wrap jobs show 20261121-082350-shape-1a2b
    """


@jobs.command("ls", context_settings=CONTEXT_SETTINGS)
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
              help="Only jobs with this status (repeatable).")
@click.option("-n", "--limit", type=int, default=None, help="Show at most N jobs (newest first).")
@json_option
def ls(statuses, limit, as_json):
    """List jobs, newest first.

    \b
    Example:
      kohya-wrap jobs ls
      kohya-wrap jobs ls --status failed --status lost --json
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.cli.display import job_json, jobs_table
    from kohya_wrap.registry.jobs import list_jobs

    rows = list_jobs(open_registry(), statuses=statuses, limit=limit)
    if as_json:
        echo_json([job_json(r) for r in rows])
    else:
        click.echo(safe_text(jobs_table(rows)) if rows else _no_jobs(statuses))


def _no_jobs(statuses) -> str:
    """'No jobs.', or what to do when job folders are on disk that the registry does not know."""
    from kohya_wrap import paths
    from kohya_wrap.registry.rebuild import job_folders

    if statuses:
        return "No jobs."
    found = job_folders(paths.runs_dir())
    if not found:
        return "No jobs."
    return (f"No jobs in the registry, but {len(found)} job folder{'s are' if len(found) != 1 else ' is'} in "
            f"{safe_text(paths.runs_dir())}: `kohya-wrap registry rebuild` records them.")


@jobs.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("job")
@json_option
def show(job, as_json):
    """Show one job: status and cause, progress, speed, cost, where it ran, its model files.

    JOB is a job id, a unique prefix of one, or a job name (the newest job of that name).

    \b
    Example:
      kohya-wrap jobs show 20261121-082350-shape-1a2b --json
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.cli.display import job_details, job_json
    from kohya_wrap.registry.jobs import get_job
    from kohya_wrap.registry.models import list_versions

    registry = open_registry()
    row = get_job(registry, job)
    versions = [v for v in list_versions(registry) if v["job_id"] == row["id"]]
    if as_json:
        echo_json({**job_json(row, with_config=True), "models": versions})
    else:
        click.echo(safe_text(job_details(row, versions)))


@jobs.command("logs", context_settings=CONTEXT_SETTINGS)
@click.argument("job")
@click.option("--events", is_flag=True, help="Print events.jsonl instead of the raw train.log.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output while the job runs.")
def logs(job, events, follow):
    """Print a job's raw trainer output (train.log) or its parsed events.

    \b
    Example:
      kohya-wrap jobs logs 20261121-082350-shape-1a2b --events
      kohya-wrap jobs logs shape -f
    """
    from kohya_wrap.errors import KohyaWrapError
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.jobs import get_job

    registry = open_registry()
    row = get_job(registry, job)
    path = Path(row["job_dir"]) / ("events.jsonl" if events else "train.log")
    if not path.is_file() and not follow:
        raise KohyaWrapError(f"Job {row['id']} has no {path.name} yet (status {row['status']}).")
    _print_file(path, follow=follow, running=lambda: get_job(registry, row["id"])["status"] in ("running", "queued"))


def _print_file(path: Path, *, follow: bool, running) -> None:
    offset = 0
    while True:
        if path.is_file():
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            offset += len(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        if not follow or not running():
            return
        time.sleep(1.0)


@jobs.command("stop", context_settings=CONTEXT_SETTINGS)
@click.argument("job")
@click.option("--grace", type=float, default=30.0, show_default=True,
              help="Seconds to wait after SIGINT (and again after SIGTERM) before escalating.")
@json_option
def stop(job, grace, as_json):
    """Stop a running job (SIGINT to its trainer, then SIGTERM, then SIGKILL), or cancel a queued one.

    \b
    Example:
      kohya-wrap jobs stop 20261121-082350-shape-1a2b --grace 60
    """
    from kohya_wrap.runner.control import stop_job
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.cli.display import job_json

    row = stop_job(open_registry(), job, grace_s=grace)
    if as_json:
        echo_json(job_json(row))
    else:
        click.echo(f"{row['id']}: {row['status']}" + (f" ({row['cause']})" if row["cause"] else ""))


@jobs.command("retry", context_settings=CONTEXT_SETTINGS)
@click.argument("job")
@click.option("--fresh", is_flag=True, help="Start again from step 0 instead of the last saved state.")
@json_option
def retry(job, fresh, as_json):
    """Queue a failed, cancelled, stopped or lost job again as a new attempt.

    The last attempt's files (train.log, events, reports and its output/ LoRAs and states) move to
    attempts/<n>/, so attempts never overwrite each other, and every LoRA keeps its model version. The
    new attempt resumes from the last saved state of an earlier attempt when there is one (sd-scripts
    --resume); a worker runs it.

    \b
    Example:
      kohya-wrap jobs retry 20261121-082350-shape-1a2b
      kohya-wrap jobs retry shape --fresh --json
    """
    from kohya_wrap.cli.display import job_json
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.runner.attempts import resume_point
    from kohya_wrap.runner.control import retry_job

    row = retry_job(open_registry(), job, fresh=fresh)
    point = resume_point(Path(row["job_dir"]))
    if as_json:
        echo_json({**job_json(row), "resume_from": str(point.state_dir) if point else None,
                   "resume_step": point.step if point else None})
        return
    start = f"resumes from step {point.step} ({safe_text(point.state_dir)})" if point else "starts from step 0"
    click.echo(f"{safe_text(row['id'])}: queued again; the next attempt {start}")


@jobs.command("rm", context_settings=CONTEXT_SETTINGS)
@click.argument("job")
@click.option("--keep-files", is_flag=True,
              help="Delete only the registry rows; the folder stays (and `registry rebuild` brings it back).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def rm(job, keep_files, yes, as_json):
    """Remove a job: its registry rows and, unless --keep-files, its job folder.

    \b
    Example:
      kohya-wrap jobs rm 20261121-082350-shape-1a2b --yes
    """
    from kohya_wrap.runner.control import remove_job
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.jobs import get_job

    registry = open_registry()
    row = get_job(registry, job)
    what = "its rows" if keep_files else f"its rows and the folder {safe_text(row['job_dir'])}"
    if not yes and not click.confirm(f"Remove job {row['id']} ({row['status']}): {what}?"):
        raise click.Abort()
    removed = remove_job(registry, row["id"], keep_files=keep_files)
    if as_json:
        echo_json({"removed": removed["id"], "files_deleted": not keep_files})
    else:
        click.echo(f"removed {removed['id']}")

"""`kohya-wrap queue`: add jobs (or a sweep of jobs) for workers to run, list and remove them."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option, overrides_argument


@click.group(context_settings=CONTEXT_SETTINGS)
def queue():
    """The job queue shared by `kohya-wrap worker` processes (one per GPU, any number of machines
    when KOHYA_WRAP_DB points at a shared database).

    \b
    Example:
      kohya-wrap queue add sdxl-style --dataset ./data --model ./sdxl.safetensors \\
          --sweep network.network_dim=16,32
      kohya-wrap worker --gpu 0
    """


@queue.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("source", metavar="PRESET_OR_FILE")
@overrides_argument
@click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Training images (folder-repeat layout).")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Base SDXL checkpoint (.safetensors).")
@click.option("--reg", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Regularization images.")
@click.option("--name", default=None, help="Job name (a sweep adds the swept values to it).")
@click.option("--sweep", "sweeps", multiple=True, metavar="KEY=V1,V2,...",
              help="One job per value (repeat for a grid of every combination).")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--over-limit", "force", is_flag=True, help="Queue even when the estimate is over a cost/time limit (the guards still stop the run at the limit).")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path, resolve_path=True), default=None,
              help="Where to create the job folders [default: the kohya-wrap runs folder].")
@json_option
def add(source, overrides, dataset, model, reg, name, sweeps, priority, force, runs_dir, as_json):
    """Prepare one job (or one per sweep value) and queue it.

    Each job folder is rendered and checked now; a job whose estimated cost or time is over its
    [limits] is refused (exit 3) unless --over-limit.

    \b
    Example:
      kohya-wrap queue add sdxl-style --dataset ./data --model ./sdxl.safetensors
      kohya-wrap queue add my.toml --dataset ./data --model ./sdxl.safetensors \\
          --sweep network.network_dim=16,32,64 limits.max_cost_usd=5
    """
    from kohya_wrap.cli.display import job_json
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.runner.submit import add_jobs

    rows = add_jobs(open_registry(), source, list(overrides), list(sweeps), name=name,
                    priority=priority, force=force, dataset=dataset, model=model, reg=reg, runs_dir=runs_dir)
    if as_json:
        echo_json([job_json(r) for r in rows])
    else:
        click.echo("\n".join(f"queued {r['id']}" for r in rows))


@queue.command("ls", context_settings=CONTEXT_SETTINGS)
@json_option
def ls(as_json):
    """List queued jobs in the order workers will take them, then the running ones.

    \b
    Example:
      kohya-wrap queue ls --json
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.cli.display import job_json, jobs_table
    from kohya_wrap.registry.jobs import list_jobs
    from kohya_wrap.registry.queue import queued

    registry = open_registry()
    rows = queued(registry) + list_jobs(registry, statuses=["running"])
    if as_json:
        echo_json([job_json(r) for r in rows])
    else:
        click.echo(jobs_table(rows) if rows else "The queue is empty.")


@queue.command("rm", context_settings=CONTEXT_SETTINGS)
@click.argument("job")
@json_option
def rm(job, as_json):
    """Take a queued job out of the queue (its folder stays; status becomes `prepared`).

    \b
    Example:
      kohya-wrap queue rm 20261121-082350-shape-1a2b
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.cli.display import job_json
    from kohya_wrap.registry.queue import unqueue

    row = unqueue(open_registry(), job)
    if as_json:
        echo_json(job_json(row))
    else:
        click.echo(f"{row['id']}: removed from the queue")

"""`kohya-wrap registry`: where the registry is, its schema version, and rebuilding it from job folders."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option


@click.group(context_settings=CONTEXT_SETTINGS)
def registry():
    """The registry database (SQLite in the kohya-wrap home by default; KOHYA_WRAP_DB for any
    SQLAlchemy URL, e.g. postgresql://user:pass@host/db for a team's shared queue).

    \b
    Example:
      kohya-wrap registry info
      KOHYA_WRAP_DB=postgresql://kw@db/kw kohya-wrap registry migrate
    """


@registry.command("info", context_settings=CONTEXT_SETTINGS)
@json_option
def info(as_json):
    """Show the database URL (password hidden), schema version and row counts.

    \b
    Example:
      kohya-wrap registry info --json
    """
    from kohya_wrap.registry.admin import registry_info
    from kohya_wrap.registry.db import open_registry

    data = registry_info(open_registry())
    if as_json:
        echo_json(data)
        return
    click.echo(f"database           {data['url']} ({data['dialect']})")
    click.echo(f"schema version     {data['schema_version']}")
    for table, count in data["rows"].items():
        click.echo(f"{table:<19}{count}")
    click.echo("jobs by status     " + (", ".join(f"{k} {v}" for k, v in data["jobs_by_status"].items()) or "-"))


@registry.command("migrate", context_settings=CONTEXT_SETTINGS)
@json_option
def migrate(as_json):
    """Create the tables or bring an older database up to the current schema version.

    Every command does this on its own; run it to upgrade a shared database at a moment you choose.

    \b
    Example:
      kohya-wrap registry migrate
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.migrate import current_version
    from kohya_wrap.registry.migrate import migrate as run_migrations

    reg = open_registry(migrate=False)
    applied = run_migrations(reg)
    data = {"applied": [{"version": m.version, "name": m.name} for m in applied],
            "schema_version": current_version(reg)}
    if as_json:
        echo_json(data)
    elif applied:
        click.echo("\n".join(f"applied {m.version}: {m.name}" for m in applied))
    else:
        click.echo(f"up to date (schema version {data['schema_version']})")


@registry.command("rebuild", context_settings=CONTEXT_SETTINGS)
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of job folders [default: the kohya-wrap runs folder].")
@click.option("--prune", is_flag=True, help="Also delete rows of jobs whose folder no longer exists.")
@json_option
def rebuild(runs_dir, prune, as_json):
    """Re-create job, dataset and model-version rows from the job folders (a lost database loses
    nothing). Running it again gives the same rows.

    \b
    Example:
      kohya-wrap registry rebuild
      kohya-wrap registry rebuild --runs /data/kohya-runs --prune --json
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.rebuild import rebuild as run_rebuild

    report = run_rebuild(open_registry(), runs_dir, prune=prune)
    if as_json:
        echo_json(report.as_dict())
        return
    data = report.as_dict()
    click.echo(f"rebuilt {data['jobs']} jobs, {data['versions']} model versions, {data['datasets']} datasets")
    for job_id in report.pruned:
        click.echo(f"pruned {job_id} (folder gone)")
    for folder, why in report.skipped:
        click.echo(f"skipped {folder}: {why}", err=True)

"""`kohya-wrap registry`: where the registry is, its schema version, and rebuilding it from job folders."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option, safe_text


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
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path, resolve_path=True),
              default=None,
              help="Folder of job folders [default: the kohya-wrap runs folder].")
@click.option("--prune", is_flag=True,
              help="Also delete rows of jobs whose folder no longer exists, and versions whose file is gone.")
@click.option("--move-aside", is_flag=True,
              help="If the SQLite registry file is damaged, rename it to <name>.damaged-<time> (kept) and "
                   "rebuild a new one.")
@json_option
def rebuild(runs_dir, prune, move_aside, as_json):
    """Re-create job, dataset and model-version rows from the job folders (a lost database loses
    nothing). Running it again gives the same rows. A damaged folder is rebuilt from what can be
    read and listed with its problem; a folder that cannot be described at all is listed as skipped.

    \b
    Example:
      kohya-wrap registry rebuild
      kohya-wrap registry rebuild --runs /data/kohya-runs --prune --json
      kohya-wrap registry rebuild --move-aside     # after "the registry database ... is damaged"
    """
    from kohya_wrap.registry.db import default_url, open_registry
    from kohya_wrap.registry.rebuild import rebuild as run_rebuild

    moved = _move_aside(default_url()) if move_aside else []
    report = run_rebuild(open_registry(), runs_dir, prune=prune)
    data = {**report.as_dict(), "moved_aside": [str(path) for path in moved]}
    if as_json:
        echo_json(data)
        return
    for path in moved:
        click.echo(f"moved the damaged registry file aside: {safe_text(path)}", err=True)
    click.echo(f"rebuilt {data['jobs']} jobs, {data['versions']} model versions, {data['datasets']} datasets")
    for job_id in report.pruned:
        click.echo(f"pruned {safe_text(job_id)} (folder gone)")
    for label in report.pruned_versions:
        click.echo(f"pruned version {safe_text(label)} (file gone)")
    for folder, problems in report.damaged:
        click.echo(f"rebuilt {safe_text(folder)} without what is damaged: {safe_text(problems)}", err=True)
    for folder, why in report.skipped:
        click.echo(f"skipped {safe_text(folder)}: {safe_text(why)}", err=True)


def _move_aside(url: str) -> list[Path]:
    from kohya_wrap.registry.recovery import find_damage, move_aside

    damage = find_damage(url)
    if damage is None:
        click.echo("the registry is not damaged: nothing moved aside", err=True)
        return []
    click.echo(damage.message, err=True)
    return move_aside(url)


@registry.command("import", context_settings=CONTEXT_SETTINGS)
@click.argument("folders", nargs=-1, required=True, metavar="DIR...",
                type=click.Path(path_type=Path, file_okay=True, dir_okay=True))
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path, resolve_path=True),
              default=None,
              help="Folder of job folders to add to [default: the kohya-wrap runs folder].")
@json_option
def import_runs(folders, runs_dir, as_json):
    """Adopt past sd-scripts runs: each DIR (an output_dir with LoRA files and *-state folders, its logs in
    either logging mode, TensorBoard events, and the training TOML when it is there) becomes a job with
    its status decided from that evidence, events, summary, report and model versions with sha256.

    The run's files are only read: the new job folder refers to them where they lie (registry.json
    `imported` lists each with its sha256, size and mtime), and a LoRA is registered by its own path.
    Importing the same folder with the same files again changes nothing; a folder whose files changed
    updates its job. A sub-folder with logs of its own is another run and is left out (import it too).

    \b
    Example:
      kohya-wrap registry import ~/kohya/outputs/shape_lora
      kohya-wrap registry import runs/2024-*/ --json
    """
    from kohya_wrap.cli.data import progress_bar
    from kohya_wrap.errors import KohyaWrapError
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.runner.adopt import adopt

    reg, results, failed = open_registry(), [], 0
    for folder in folders:
        try:
            with progress_bar(f"reading {folder.name or folder}", quiet=as_json) as progress:
                result = adopt(reg, folder, runs_dir, progress)
        except KohyaWrapError as error:
            failed += 1
            results.append({"source": str(folder), "action": "failed", "error": error.message, "hint": error.hint})
            if not as_json:
                click.echo(f"Error: {folder}: {error.render()}", err=True)
            continue
        results.append(result.to_dict())
        if not as_json:
            click.echo(_adopted_lines(result))
    if as_json:
        echo_json(results)
    if failed:
        click.get_current_context().exit(2)


def _adopted_lines(result) -> str:
    steps = result.steps or {}
    head = {"imported": "imported", "updated": "updated ", "unchanged": "unchanged"}[result.action]
    lines = [f"{head} {result.source}", f"  job      {result.job_id} ({result.job_dir})",
             f"  status   {result.status}" + (f" ({result.cause})" if result.cause else "")
             + (f": {result.message}" if result.message and result.status != "succeeded" else ""),
             f"  steps    {steps.get('done') if steps.get('done') is not None else '-'}/{steps.get('total') or '?'}",
             f"  files    {result.files} referenced, {result.bytes / 1e6:.1f} MB (left where they are)"]
    for version in result.versions:
        problem = f"  PROBLEM: {version['problem']}" if version["problem"] else ""
        lines.append(f"  version  {version['name']}:v{version['version']}  {version['file']}{problem}")
    lines += [f"  skipped  {item['path']}: {item['why']}" for item in result.skipped]
    lines += [f"  note     {note}" for note in result.notes]
    return "\n".join(lines)

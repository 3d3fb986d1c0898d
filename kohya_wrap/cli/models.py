"""`kohya-wrap models`: LoRA model versions (v1, v2, ... per name) registered from jobs' saved files."""

from __future__ import annotations

import click

from kohya_wrap.cli.common import echo, CONTEXT_SETTINGS, echo_json, json_option


@click.group(context_settings=CONTEXT_SETTINGS)
def models():
    """Model versions: every LoRA file a job saved, numbered per model name.

    Refer to a version as NAME:vN (NAME alone means its newest version).

    \b
    Example:
      kohya-wrap models ls shape_lora
      kohya-wrap models tag shape_lora:v3 best --note "clean edges"
    """


@models.command("ls", context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False)
@click.option("--tag", default=None, help="Only versions with this tag.")
@json_option
def ls(name, tag, as_json):
    """List model versions (all names, or one).

    \b
    Example:
      kohya-wrap models ls
      kohya-wrap models ls shape_lora --tag best --json
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.cli.display import versions_table
    from kohya_wrap.registry.models import list_versions

    rows = list_versions(open_registry(), name, tag)
    if as_json:
        echo_json(rows)
    else:
        echo(versions_table(rows) if rows else "No model versions.")


@models.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("ref")
@json_option
def show(ref, as_json):
    """Show one version: file, sha256, size, step, rank/alpha, base model hash, tags, notes.

    REF is NAME:vN, NAME (newest version) or a sha256 prefix of at least 8 characters.

    \b
    Example:
      kohya-wrap models show shape_lora:v2
    """
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.cli.display import version_details
    from kohya_wrap.registry.models import get_version

    row = get_version(open_registry(), ref)
    if as_json:
        echo_json(row)
    else:
        echo(version_details(row))


@models.command("tag", context_settings=CONTEXT_SETTINGS)
@click.argument("ref")
@click.argument("tags", nargs=-1)
@click.option("--rm", "remove", multiple=True, help="Remove this tag (repeatable).")
@click.option("--note", default=None, help="Set the version's notes.")
@json_option
def tag(ref, tags, remove, note, as_json):
    """Add or remove tags and set notes on a version (kept in its job folder too).

    \b
    Example:
      kohya-wrap models tag shape_lora:v3 best production
      kohya-wrap models tag shape_lora:v2 --rm best --note "superseded by v3"
    """
    from kohya_wrap.errors import KohyaWrapError
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.models import tag_version

    if not tags and not remove and note is None:
        raise KohyaWrapError("Nothing to change.", hint="give tags to add, --rm TAG, or --note TEXT")
    row = tag_version(open_registry(), ref, add=tags, remove=remove, notes=note)
    if as_json:
        echo_json(row)
    else:
        echo(f"{row['model_name']}:v{row['version']} tags: {', '.join(row['tags']) or '-'}")

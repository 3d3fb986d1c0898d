"""`kohya-wrap backend`: install, register and inspect the pinned sd-scripts; tokenizers; patches."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from kohya_wrap import paths
from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option
from kohya_wrap.errors import BackendError


@click.group(context_settings=CONTEXT_SETTINGS)
def backend():
    """Install, register and inspect the sd-scripts checkout that trains.

    \b
    Example:
      kohya-wrap backend install
      kohya-wrap backend use ~/kohya_ss/sd-scripts
      kohya-wrap backend info
    """


@backend.command("install", context_settings=CONTEXT_SETTINGS)
@click.option("--ref", help="Commit to check out (default: the pinned commit).")
@click.option("--source", help="Repository URL or local path / file:// URL to clone from (default: GitHub).")
@click.option("--dir", "dest", type=click.Path(path_type=Path), help="Checkout folder (default: ~/.kohya-wrap/sd-scripts).")
@click.option("--python", help="Interpreter to install the requirements into (default: this one).")
@click.option("--exclude", multiple=True, metavar="PATH", help="Leave PATH out of the checkout (sparse checkout); repeatable.")
@click.option("--no-requirements", is_flag=True, help="Only check out and patch; install no packages.")
@click.option("--allow-cpu-torch", is_flag=True, help="Go ahead on aarch64 without a CUDA build of torch.")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@json_option
def install_command(ref, source, dest, python, exclude, no_requirements, allow_cpu_torch, dry_run, as_json):
    """Clone sd-scripts at the pinned commit, apply our patches, install its requirements.

    Requirements are adjusted to the platform (aarch64: no xformers; headless OpenCV without GUI
    libraries; no bitsandbytes without CUDA) and the installed torch is never replaced.

    \b
    Example:
      kohya-wrap backend install --dry-run
      kohya-wrap backend install --source /srv/mirrors/sd-scripts.git --dir /opt/sd-scripts
    """
    from kohya_wrap.backend import install
    from kohya_wrap.backend.pin import load_pin
    from kohya_wrap.backend.platform import gather_facts

    pin = load_pin()
    python = python or sys.executable
    facts = gather_facts(python)
    plan_source, plan_ref = source or pin.url, ref or pin.commit
    dest = (dest or paths.home() / "sd-scripts").expanduser().resolve()
    state = install.checkout_state(dest, plan_source, plan_ref, pin.requirements_file)
    plan = install.plan_install(pin, facts, state, source=plan_source, ref=plan_ref, dest=dest,
                                excludes=tuple(exclude), install_requirements=not no_requirements,
                                allow_cpu_torch=allow_cpu_torch)
    if dry_run:
        echo_json(plan.to_dict()) if as_json else click.echo("\n".join(plan.lines()))
        return
    record = install.run_install(plan, progress=lambda line: click.echo(line, err=as_json))
    if as_json:
        echo_json(record)
    else:
        click.echo(f"Installed sd-scripts {record['commit'][:9]} at {record['dest']} in {record['seconds']} s; "
                   "registered as the backend.")


@backend.command("use", context_settings=CONTEXT_SETTINGS)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--python", help="Interpreter that has sd-scripts' packages (default: KOHYA_WRAP_PYTHON or this one).")
@click.option("--commit", help="For a checkout without .git: the commit it was made from (written as a marker).")
@json_option
def use_command(path, python, commit, as_json):
    """Register an existing sd-scripts checkout (e.g. the one inside a kohya_ss install).

    \b
    Example:
      kohya-wrap backend use ~/kohya_ss/sd-scripts --python ~/kohya_ss/venv/bin/python
    """
    from kohya_wrap.backend import locate

    root = locate.check_root(path)
    if commit:
        if (root / ".git").exists():
            raise BackendError(f"{root} is a git checkout; its commit comes from git", hint="leave out --commit")
        locate.write_marker(root, commit, source="declared by `backend use --commit`")
    locate.register_backend(root, python=python)
    if os.environ.get(locate.ENV_ROOT):
        click.echo(f"note: {locate.ENV_ROOT}={os.environ[locate.ENV_ROOT]} overrides this registration "
                   "while it is set; showing the backend in effect", err=True)
    _print_backend(locate.require_backend(), as_json)


def _print_backend(found, as_json: bool) -> None:
    if as_json:
        echo_json(found.to_dict())
        return
    click.echo(f"sd-scripts: {found.root}")
    click.echo(f"python:     {found.python}")
    commit = f"{found.commit} ({found.commit_source})" if found.commit else "unknown"
    click.echo(f"commit:     {commit}{'' if found.at_pin else f'  [pin: {found.pinned_commit}]'}")
    click.echo(f"dirty:      {'unknown' if found.dirty is None else found.dirty}")


@backend.command("info", context_settings=CONTEXT_SETTINGS)
@json_option
def info_command(as_json):
    """Show the backend: path, commit, dirty state, patch status, platform and package versions.

    \b
    Example:
      kohya-wrap backend info --json
    """
    from kohya_wrap.backend import locate, patches
    from kohya_wrap.backend.platform import gather_facts

    found = locate.require_backend()
    statuses = patches.plan_patches(found.root)
    facts = gather_facts(found.python)
    install = locate.read_registry().get("install") if found.found_by == "registered" else None
    if as_json:
        echo_json({"backend": found.to_dict(), "patches": [{"name": s.patch.name, "status": s.status,
                   "detail": s.detail} for s in statuses], "platform": facts.to_dict(), "install": install})
        return
    _print_backend(found, False)
    for status in statuses:
        click.echo(f"patch:      {status.line()}")
    for line in facts.summary_lines():
        click.echo(f"platform:   {line}")
    if install:
        click.echo(f"installed:  {install.get('installed_at')} from {install.get('source')}")


@backend.command("tokenizers", context_settings=CONTEXT_SETTINGS)
@click.option("--dir", "folder", type=click.Path(path_type=Path), help="Cache folder (default: kohya-wrap's cache).")
@click.option("--vocab", type=click.Path(path_type=Path), help="CLIP BPE file bpe_simple_vocab_16e6.txt.gz or an open_clip_torch wheel.")
@json_option
def tokenizers_command(folder, vocab, as_json):
    """Fill the offline CLIP tokenizer cache that runs pass as --tokenizer_cache_dir.

    Copied from a local Hugging Face hub cache when there is one, else derived from
    the CLIP BPE vocabulary that open_clip_torch ships.

    \b
    Example:
      pip download --no-deps open_clip_torch -d /tmp/oc
      kohya-wrap backend tokenizers --vocab /tmp/oc/open_clip_torch-*.whl
    """
    from kohya_wrap.backend import locate, tokenizers

    target = Path(folder or tokenizers.default_dir())
    sources = tokenizers.fill_tokenizer_cache(target, vocab, python=locate.backend_python())
    if as_json:
        echo_json({"dir": str(target), "sources": sources})
        return
    click.echo(f"Tokenizer cache: {target}")
    for name, source in sources.items():
        click.echo(f"  {name}: {source}")


@backend.command("patches", context_settings=CONTEXT_SETTINGS)
@click.option("--check", is_flag=True, help="Exit 2 if a patch does not fit or a required one is not applied.")
@click.option("--apply", "do_apply", is_flag=True, help="Apply the patches not yet applied.")
@json_option
def patches_command(check, do_apply, as_json):
    """List our sd-scripts patches, why each exists, and whether it is applied.

    \b
    Example:
      kohya-wrap backend patches --check
    """
    from kohya_wrap.backend import locate, patches

    root = locate.require_backend().root
    statuses = patches.plan_patches(root)
    if do_apply:
        applied = patches.apply_patches(root, statuses)
        click.echo(f"Applied: {', '.join(applied) or 'nothing (all were applied)'}", err=as_json)
        statuses = patches.plan_patches(root)
    if as_json:
        echo_json([{"name": s.patch.name, "file": s.patch.file, "status": s.status, "required": s.patch.required,
                    "why": s.patch.why, "detail": s.detail} for s in statuses])
    else:
        for status in statuses:
            click.echo(status.line())
            click.echo(f"    why: {status.patch.why}")
    if check:
        patches.check_patches(statuses)
        missing = [s.patch.name for s in statuses if s.patch.required and s.status != patches.APPLIED]
        if missing:
            raise BackendError(f"Required patches not applied: {', '.join(missing)}",
                               hint="run `kohya-wrap backend patches --apply`")

"""Every command has help with an Example, is documented in README.md, and --help stays light."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from kohya_wrap.cli import COMMANDS, cli as root
from tests.conftest import REPO


def walk(command: click.Command, path: tuple[str, ...] = (), argv: tuple[str, ...] = ()):
    yield path, argv, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        # A group that takes arguments before its verbs (data captions DIR VERB) gets a harmless one.
        own = tuple("." for param in command.params if isinstance(param, click.Argument)) if path else ()
        for name in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, name), path + (name,), argv + own + (name,))


ALL = [(" ".join(path), command) for path, _, command in walk(root)]
ARGVS = {" ".join(path): list(argv) for path, argv, _ in walk(root)}


def test_every_registered_command_module_exists():
    import importlib.util

    missing = [name for name, target in COMMANDS.items() if importlib.util.find_spec(target.split(":")[0]) is None]
    assert missing == []


@pytest.mark.parametrize("path, command", ALL, ids=[path or "kohya-wrap" for path, _ in ALL])
def test_help_has_an_example(path, command):
    assert command.help and "Example" in command.help, f"`kohya-wrap {path}` help lacks an Example"


@pytest.mark.parametrize("path", [path for path, _ in ALL if path])
def test_command_appears_in_readme(path):
    assert f"kohya-wrap {path}" in (REPO / "README.md").read_text(), f"`kohya-wrap {path}` is not in README.md"


@pytest.mark.parametrize("path", [path for path, _ in ALL])
def test_short_and_long_help_flags_work(cli, path):
    for flag in ("-h", "--help"):
        result = cli(*ARGVS[path], flag)
        assert result.exit_code == 0 and "Usage:" in result.output


def test_help_imports_no_heavy_packages():
    code = ("import sys; from kohya_wrap.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'diffusers', 'accelerate', 'matplotlib', 'numpy', "
            "'PIL', 'sqlalchemy', 'safetensors', 'pydantic', 'yaml', 'fastapi', 'uvicorn', 'starlette', "
            "'sse_starlette', 'jinja2', 'multipart') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "HEAVY=\n" in done.stdout or done.stdout.strip().endswith("HEAVY="), done.stdout


def test_subcommand_help_imports_no_torch():
    code = ("import sys; from kohya_wrap.cli import main\n"
            "for args in (['train', '--help'], ['doctor', '--help'], ['data', '--help'], ['jobs', '--help']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print('TORCH=' + str('torch' in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "TORCH=False" in done.stdout

"""`kohya-wrap serve`: its refusals come before anything listens, and its help imports none of the web stack."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_serve_help_imports_no_web_packages():
    code = ("import sys; from kohya_wrap.cli import main\n"
            "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('WEB=' + ','.join(m for m in ('fastapi', 'uvicorn', 'starlette', 'sse_starlette') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "Example:" in done.stdout and done.stdout.strip().endswith("WEB="), done.stdout


def test_serve_refuses_a_public_host_without_a_token(cli):
    result = cli("serve", "--host", "0.0.0.0", "--workers", "0")
    assert result.exit_code == 2
    assert "Refusing to serve on 0.0.0.0 without a token" in result.output and "--token-file" in result.output


def test_serve_refuses_a_short_token_and_negative_workers(cli, tmp_path):
    token = tmp_path / "token"
    token.write_text("short\n")
    result = cli("serve", "--token-file", token)
    assert result.exit_code == 2 and "too short" in result.output
    result = cli("serve", "--workers", "-1")
    assert result.exit_code == 2 and "--workers must be 0" in result.output

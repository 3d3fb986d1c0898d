"""`kohya-wrap serve`: the dashboard and HTTP API (FastAPI + uvicorn, the [web] extra) with embedded workers."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS
from kohya_wrap.errors import KohyaWrapError

WEB_PACKAGES = ("fastapi", "uvicorn", "jinja2", "sse_starlette", "multipart")


def _require_web_extra() -> None:
    import importlib.util

    missing = [name for name in WEB_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise KohyaWrapError(f"The dashboard needs packages that are not installed: {', '.join(missing)}.",
                             hint="pip install 'kohya-wrap[web]'")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token-file.")
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int,
              help="Queue workers run inside the server (0: dashboard only, workers run elsewhere).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File whose first line is the access token (Bearer header, or log in once for a cookie).")
@click.option("--max-upload-mb", default=512, show_default=True, type=int, help="Largest dataset upload.")
def serve(host, port, workers, token_file, max_upload_mb):
    """Serve the dashboard and its JSON API: jobs with live progress, new jobs, datasets, models.

    The registry is the one every command uses (KOHYA_WRAP_DB, else SQLite in the kohya-wrap home).
    Uploaded datasets go to <home>/datasets. Stop with Ctrl-C: a running job of an embedded worker is
    put back in the queue.

    \b
    Example:
      kohya-wrap serve
      kohya-wrap serve --host 0.0.0.0 --port 8080 --token-file ~/.kohya-wrap/token --workers 2
      curl -H "Authorization: Bearer $(cat ~/.kohya-wrap/token)" http://HOST:8080/api/jobs
    """
    _require_web_extra()
    import uvicorn

    from kohya_wrap.web.app import create_app
    from kohya_wrap.web.settings import MB, WebSettings, read_token_file

    token = read_token_file(token_file) if token_file else None
    settings = WebSettings(host=host, port=port, token=token, workers=workers, max_upload_bytes=max_upload_mb * MB)
    settings.check()
    app = create_app(settings)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    click.echo(f"kohya-wrap dashboard on {where} ({workers} embedded worker{'s' if workers != 1 else ''}; "
               f"{'token required' if token else 'loopback only, no token'})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=120)

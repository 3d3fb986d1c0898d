"""Rendering: one template per page fed the same dict as its JSON twin, and errors as JSON or as a page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from kohya_wrap import __version__
from kohya_wrap.errors import ConfigError, KohyaWrapError, LimitReached
from kohya_wrap.job.folder import JobNotFound
from kohya_wrap.registry.models import ModelNotFound
from kohya_wrap.web.auth import Forbidden, NotLoggedIn, csrf_token, settings_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
NOT_FOUND = (JobNotFound, ModelNotFound)


def environment() -> jinja2.Environment:
    # Every value a template shows is HTML-escaped: job names, captions, paths, log lines are user text.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["quote"] = lambda value: quote(str(value))
    # |tojson escapes < > & ' so a value can never end the <script type="application/json"> block
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "default": str}
    return env


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def render(request: Request, template: str, data: dict, *, status: int = 200, title: str = "") -> HTMLResponse:
    identity = getattr(request.state, "identity", None)
    settings = settings_of(request)
    context = {"data": data, "title": title, "version": __version__, "path": request.url.path,
               "csrf": csrf_token(settings, identity.session if identity else "login"),
               "logged_in": identity is not None and identity.how != "open"}
    html = request.app.state.templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status)


async def blocking(function, *args, **kwargs):
    """Registry, file and runner calls block: they run on the thread pool, never on the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


def error_status(error: KohyaWrapError) -> int:
    if isinstance(error, NOT_FOUND) or type(error).__name__.endswith("NotFound"):
        return 404
    if isinstance(error, ConfigError):
        return 422
    if isinstance(error, LimitReached):
        return 409
    return 400


def error_body(error: KohyaWrapError) -> dict:
    body = {"error": error.message, "hint": error.hint}
    if isinstance(error, ConfigError):
        body["issues"] = [{"key": i.key, "problem": i.problem, "source": i.source, "suggestion": i.suggestion,
                           "line": i.line()} for i in error.issues]
    if getattr(error, "problems", None):
        body["problems"] = list(error.problems)
    return body


def _answer(request: Request, status: int, body: dict, headers: dict | None = None):
    if is_api(request):
        return JSONResponse(body, status_code=status, headers=headers)
    return render(request, "error.html", body, status=status, title="Error")


async def on_library_error(request: Request, error: KohyaWrapError):
    return _answer(request, error_status(error), error_body(error))


async def on_not_logged_in(request: Request, _error: NotLoggedIn):
    if is_api(request):
        return JSONResponse({"error": "login required", "hint": "send the token as `Authorization: Bearer TOKEN`"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def on_forbidden(request: Request, error: Forbidden):
    return _answer(request, 403, {"error": error.message, "hint": None})


HANDLERS = {KohyaWrapError: on_library_error, NotLoggedIn: on_not_logged_in, Forbidden: on_forbidden}

"""The dashboard app factory: FastAPI over the registry and the runner, pages + JSON twins + SSE, embedded workers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

from kohya_wrap.registry.db import open_registry
from kohya_wrap.web import pages
from kohya_wrap.web.auth import check_host
from kohya_wrap.web.embedded import EmbeddedWorkers
from kohya_wrap.web.settings import WebSettings

log = logging.getLogger("kohya_wrap.web")
UPLOAD_PATHS = ("/api/datasets",)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                  b"img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
]


class BodyTooLarge(Exception):
    """The request body went past its limit while it was read."""


class Guard:
    """ASGI middleware: answers loopback Host names only when there is no token, limits every request body
    (uploads to --max-upload-mb, the rest to 1 MB) and adds security headers to every response."""

    def __init__(self, app, settings: WebSettings):
        self.app, self.settings = app, settings

    def _limit(self, scope) -> int:
        upload = scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS
        return self.settings.max_upload_bytes if upload else self.settings.max_request_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        problem = check_host(headers.get("host"), self.settings)
        if problem:
            return await PlainTextResponse(problem, status_code=421)(scope, receive, send)
        limit = self._limit(scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await self._too_large(limit)(scope, receive, send)
        seen, started = 0, False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        async def secured_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, counted_receive, secured_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(limit)(scope, receive, secured_send)

    @staticmethod
    def _too_large(limit: int):
        return PlainTextResponse(f"request body over {limit // (1024 * 1024) or 1} MB", status_code=413)


def create_app(settings: WebSettings, registry=None) -> FastAPI:
    """The app for these settings; registry defaults to the one KOHYA_WRAP_DB (or the home folder) names."""
    from kohya_wrap.web import routes_auth, routes_data, routes_jobs, routes_models, routes_new

    settings.check()
    registry = registry if registry is not None else open_registry(settings.registry_url)
    workers = EmbeddedWorkers(registry, settings.workers, settings.worker_poll_s)

    @asynccontextmanager
    async def lifespan(_app):
        workers.start()
        try:
            yield
        finally:
            await pages.blocking(workers.stop)

    app = FastAPI(title="kohya-wrap", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.registry, app.state.workers = settings, registry, workers
    app.state.templates = pages.environment()
    for error, handler in pages.HANDLERS.items():
        app.add_exception_handler(error, handler)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    for module in (routes_auth, routes_jobs, routes_new, routes_data, routes_models):
        app.include_router(module.router)
    app.add_middleware(Guard, settings=settings)
    return app

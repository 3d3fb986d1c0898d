"""Who may use the dashboard: token (Bearer header or login cookie), CSRF on state changes, Host/Origin checks."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Depends, Request

from kohya_wrap.web.settings import WebSettings, is_loopback

SESSION_COOKIE = "kw_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class NotLoggedIn(Exception):
    """No valid token with the request: pages redirect to /login, the API answers 401."""


class Forbidden(Exception):
    """The request is refused whoever sends it (CSRF, foreign Origin, foreign Host)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Identity:
    """How a request proved itself: 'open' (loopback server without a token), 'cookie' or 'bearer'."""

    how: str
    session: str  # what its CSRF token is bound to


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def session_value(token: str) -> str:
    """The login cookie: derived from the token, so the cookie never holds the token itself."""
    return hmac.new(token.encode("utf-8"), b"kohya-wrap session v1", hashlib.sha256).hexdigest()


def token_matches(settings: WebSettings, given: str) -> bool:
    return settings.token is not None and _same(given, settings.token)


def identify(request: Request, settings: WebSettings) -> Identity | None:
    if settings.token is None:
        return Identity("open", "open")
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return Identity("bearer", "bearer") if token_matches(settings, header[7:].strip()) else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and _same(cookie, session_value(settings.token)):
        return Identity("cookie", cookie)
    return None


def csrf_token(settings: WebSettings, session: str) -> str:
    return hmac.new(settings.secret.encode(), f"csrf:{session}".encode(), hashlib.sha256).hexdigest()


def settings_of(request: Request) -> WebSettings:
    return request.app.state.settings


async def current_user(request: Request) -> Identity:
    identity = identify(request, settings_of(request))
    if identity is None:
        raise NotLoggedIn()
    request.state.identity = identity
    return identity


async def check_csrf(request: Request, identity: Identity = Depends(current_user)) -> None:
    """State changes need the CSRF token (header or form field) unless the token came as a Bearer header,
    which a browser never adds to a cross-site request by itself."""
    if request.method in SAFE_METHODS or identity.how == "bearer":
        return
    await require_csrf(request, identity.session)


async def require_csrf(request: Request, session: str) -> None:
    check_origin(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").split(";")[0].strip() in FORM_TYPES:
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not _same(given, csrf_token(settings_of(request), session)):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def check_origin(request: Request) -> None:
    """A browser names the page that sent a POST; it must be this server."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    parts = urlsplit(origin)
    if origin == "null" or parts.netloc.lower() != request.headers.get("host", "").lower():
        raise Forbidden(f"request from another site ({origin}) refused")


def check_host(request_host: str | None, settings: WebSettings) -> str | None:
    """Without a token only loopback names are answered (a DNS-rebinding page gets nothing); the problem or None."""
    if settings.token is not None:
        return None
    name = urlsplit(f"//{request_host or ''}").hostname or ""
    return None if is_loopback(name) else f"host {request_host!r} refused: this server answers loopback names only"


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this server only."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

"""Login and logout (the token becomes an HttpOnly SameSite=Strict cookie), and the server's status."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from kohya_wrap import __version__
from kohya_wrap.web.auth import (SESSION_COOKIE, Identity, current_user, check_csrf, require_csrf, safe_next,
                                 session_value, settings_of, token_matches)
from kohya_wrap.web.pages import render

router = APIRouter()
FAILED_LOGIN_DELAY_S = 0.5  # slows guessing; a real token is far too long to guess anyway


@router.get("/login")
async def login_page(request: Request, next: str = "/"):
    settings = settings_of(request)
    if settings.token is None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None}, title="Log in")


@router.post("/login")
async def login(request: Request):
    settings = settings_of(request)
    if settings.token is None:
        return RedirectResponse("/", status_code=303)
    await require_csrf(request, "login")
    form = await request.form()
    target = safe_next(str(form.get("next") or "/"))
    if not token_matches(settings, str(form.get("token") or "")):
        await asyncio.sleep(FAILED_LOGIN_DELAY_S)
        return render(request, "login.html", {"next": target, "error": "That is not the token."}, status=401,
                      title="Log in")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(settings.token), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout():
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/status")
async def status(request: Request, identity: Identity = Depends(current_user)):
    app = request.app
    return {"version": __version__, "auth": identity.how, "registry": app.state.registry.dialect,
            "workers": app.state.workers.status()}

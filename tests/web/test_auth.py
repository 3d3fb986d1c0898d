"""Who may do what: loopback default, token (Bearer / login cookie), CSRF, Origin and Host checks."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("sse_starlette", reason="the dashboard needs the [web] extra")


from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.web import auth
from kohya_wrap.web.settings import WebSettings, is_loopback, read_token_file
from tests.web.conftest import TOKEN, csrf_of, login, make_client

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                            ("example.com", False), ("::", False)])
def test_loopback_names(host, loopback):
    assert is_loopback(host) is loopback


def test_non_loopback_host_needs_a_token():
    with pytest.raises(KohyaWrapError, match="without a token"):
        WebSettings(host="0.0.0.0").check()
    WebSettings(host="0.0.0.0", token=TOKEN).check()
    WebSettings(host="127.0.0.1").check()


def test_token_file_is_read_and_short_tokens_refused(tmp_path):
    good = tmp_path / "token"
    good.write_text(f"{TOKEN}\nsecond line ignored\n")
    assert read_token_file(good) == TOKEN
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(KohyaWrapError, match="too short"):
        read_token_file(short)
    with pytest.raises(KohyaWrapError, match="Cannot read"):
        read_token_file(tmp_path / "missing")


def test_pages_redirect_to_login_and_the_api_answers_401(token_client):
    page = token_client.get("/jobs/x?a=1", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/jobs/x%3Fa%3D1"
    for path in ("/api/jobs", "/api/models", "/api/datasets", "/api/presets", "/api/status", "/api/jobs/x/events"):
        answer = token_client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"] == "Bearer"
    assert token_client.post("/api/jobs", json={}).status_code == 401
    assert token_client.get("/api/jobs", headers={"Authorization": "Bearer wrong-token-xxxxxxxxxx"}).status_code == 401
    assert token_client.get("/api/jobs", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_bearer_token_works_for_reads_and_writes_without_csrf(token_client):
    assert token_client.get("/api/jobs", headers=BEARER).json()["total"] == 0
    # a state change with the Bearer header needs no CSRF token (no browser adds that header cross-site)
    answer = token_client.post("/api/jobs/validate", json={"preset": "sdxl-style"}, headers=BEARER)
    assert answer.status_code == 200 and answer.json()["valid"] is True


def test_login_sets_an_httponly_strict_cookie_that_is_not_the_token(token_client):
    wrong = token_client.post("/login", data={"token": "nope", "csrf_token": csrf_of(token_client, "/login")})
    assert wrong.status_code == 401 and "That is not the token" in wrong.text
    answer = login(token_client)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{auth.SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TOKEN not in cookie
    assert token_client.get("/api/jobs").status_code == 200  # the cookie now authenticates (EventSource too)
    assert token_client.get("/").status_code == 200


def test_login_needs_its_csrf_token_and_only_redirects_on_this_server(token_client):
    refused = token_client.post("/login", data={"token": TOKEN, "next": "/"})
    assert refused.status_code == 403
    away = token_client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(token_client, "/login"),
                                              "next": "//evil.example/"}, follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/"
    assert auth.safe_next("https://evil.example/") == "/" and auth.safe_next("/\\evil") == "/"
    assert auth.safe_next("/jobs/a") == "/jobs/a"


def test_cookie_requests_that_change_state_need_the_csrf_token(token_client):
    login(token_client)
    no_token = token_client.post("/api/jobs/validate", json={"preset": "sdxl-style"})
    assert no_token.status_code == 403 and "CSRF" in no_token.json()["error"]
    wrong = token_client.post("/api/jobs/validate", json={"preset": "sdxl-style"}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    good = token_client.post("/api/jobs/validate", json={"preset": "sdxl-style"},
                             headers={"X-CSRF-Token": csrf_of(token_client)})
    assert good.status_code == 200


def test_a_post_from_another_origin_is_refused(client):
    answer = client.post("/api/jobs/validate", json={"preset": "sdxl-style"}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "another site" in answer.json()["error"]
    assert client.post("/api/jobs/validate", json={"preset": "sdxl-style"},
                       headers={"Origin": "http://127.0.0.1:7860"}).status_code == 200


def test_open_loopback_server_still_needs_csrf_and_loopback_host_names(sqlite_registry):
    with make_client(sqlite_registry) as open_client:
        assert open_client.get("/api/jobs").status_code == 200
        assert open_client.post("/api/jobs/validate", json={"preset": "sdxl-style"}).status_code == 403
        rebinding = open_client.get("/api/jobs", headers={"Host": "attacker.example:7860"})
        assert rebinding.status_code == 421  # a DNS-rebinding page cannot read the token-less server


def test_the_token_is_compared_in_constant_time(token_client, monkeypatch):
    calls = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert token_client.get("/api/jobs", headers=BEARER).status_code == 200
    assert (TOKEN.encode(), TOKEN.encode()) in calls


def test_logout_clears_the_cookie(token_client):
    login(token_client)
    csrf = csrf_of(token_client)
    answer = token_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and 'kw_session=""' in answer.headers["set-cookie"]
    token_client.cookies.clear()
    assert token_client.get("/api/jobs").status_code == 401


def test_security_headers_on_every_response(client):
    answer = client.get("/")
    assert answer.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_bodies_over_the_limit_are_refused(sqlite_registry):
    with make_client(sqlite_registry, max_request_bytes=1000) as small:
        small.headers["X-CSRF-Token"] = csrf_of(small)
        answer = small.post("/api/jobs/validate", json={"preset": "sdxl-style", "overrides": ["x=" + "a" * 5000]})
        assert answer.status_code == 413

"""Web fixtures: the app on a fresh SQLite registry, a logged-in (or token-less loopback) client, and jobs that
the stand-in trainer really ran."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.registry.conftest import (STANDIN_OVERRIDES, db_url, registry, run_worker, runs,  # noqa: F401
                                     sqlite_registry, sqlite_url, standin)

TOKEN = "test-token-0123456789abcdef"
BASE = "http://127.0.0.1:7860"
EXAMPLE = REPO / "templates" / "example-dataset"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


def make_client(db, *, token: str | None = None, workers: int = 0, **settings):
    """A TestClient of the app (the web tests skip without the [web] extra: see WEB_SKIP)."""
    from fastapi.testclient import TestClient

    from kohya_wrap.web.app import create_app
    from kohya_wrap.web.settings import WebSettings

    app = create_app(WebSettings(token=token, workers=workers, worker_poll_s=0.2, **settings), registry=db)
    return TestClient(app, base_url=BASE)


def csrf_of(client, page: str = "/") -> str:
    return CSRF_META.search(client.get(page).text).group(1)


def login(client, token: str = TOKEN):
    answer = client.post("/login", data={"token": token, "csrf_token": csrf_of(client, "/login"), "next": "/"},
                         follow_redirects=False)
    return answer


@pytest.fixture
def client(sqlite_registry):  # noqa: F811 (fixtures imported above)
    """A token-less loopback server (the default `kohya-wrap serve`), no embedded worker."""
    with make_client(sqlite_registry) as test_client:
        test_client.headers["X-CSRF-Token"] = csrf_of(test_client)
        yield test_client


@pytest.fixture
def token_client(sqlite_registry):  # noqa: F811 (fixtures imported above)
    """A server with a token; not logged in."""
    with make_client(sqlite_registry, token=TOKEN) as test_client:
        yield test_client


@pytest.fixture
def queue_job(sqlite_registry, standin):  # noqa: F811 (fixtures imported above)
    """Queue a job on the example dataset through the library, as `queue add` does; returns its row."""
    from kohya_wrap.runner.submit import add_jobs

    def queue(name: str = "shape", *overrides: str) -> dict:
        return add_jobs(sqlite_registry, "sdxl-style", [*STANDIN_OVERRIDES, *overrides], [], name=name,
                        dataset=EXAMPLE, model=standin.model)[0]

    return queue


@pytest.fixture
def finished_job(sqlite_registry, queue_job) -> dict:  # noqa: F811 (fixtures imported above)
    """A job the stand-in trainer ran to success (real runner, real events, real LoRA files)."""
    from kohya_wrap.registry.jobs import get_job

    row = queue_job("shape")
    run_worker(sqlite_registry)
    return get_job(sqlite_registry, row["id"])


def sse_messages(lines) -> list[dict]:
    """Parse SSE lines into messages: {'event', 'id', 'data'} (comments and pings dropped)."""
    messages, current = [], {}
    for line in lines:
        if not line:
            if current.get("data") is not None or current.get("event"):
                messages.append(current)
            current = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        current[key] = value if key != "data" else (current.get("data", "") + value)
    return messages


def job_dir(row: dict) -> Path:
    return Path(row["job_dir"])


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless chromium (skips without chromium or playwright)")

"""The dashboard in a real browser (headless Debian chromium through Playwright) against a real uvicorn
server whose embedded worker runs the stand-in trainer: log in, upload a dataset, queue a job and watch its
step count and loss curve grow live, download the LoRA (sha256 checked), stop a second job."""

from __future__ import annotations

import hashlib
import sys

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip)")

from tests.conftest import REPO  # noqa: E402
from tests.web.browser import (NO_CHROMIUM, api, browser_page, chromium_path, download_final, log_in,  # noqa: E402
                               queue_job, serve, shot, upload_dataset, watch_live)
from tests.web.conftest import STANDIN_OVERRIDES  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)]
TIMEOUT_MS = 90_000


@pytest.fixture
def server(tmp_path, isolated_home):
    env = {"KOHYA_WRAP_SD_SCRIPTS": str(REPO / "tests" / "standin"), "KOHYA_WRAP_PYTHON": sys.executable,
           "STANDIN_SECONDS": "8"}
    with serve(tmp_path, isolated_home, env) as url:
        yield url


@pytest.fixture
def page(server):
    with browser_page(TIMEOUT_MS) as tab:
        yield tab


def test_dashboard_end_to_end_in_chromium(page, server, tmp_path):
    from tests.fake_model import write_fake_sdxl

    model = write_fake_sdxl(tmp_path / "base.safetensors")  # SDXL's key layout, sparse: only the header is real
    log_in(page, server)
    upload_dataset(page, server)
    shot(page, "datasets")

    first = queue_job(page, server, model, "first", STANDIN_OVERRIDES)
    live = watch_live(page, TIMEOUT_MS / 1000, on_change=lambda seen: len(seen) == 4 and shot(page, "job-live"))
    assert len({step for step, _ in live if step > 0}) >= 3, live  # the count grew on the page while it ran
    points = [p for _, p in live]
    assert points == sorted(points) and len(set(points)) >= 3, live  # and so did the loss curve
    page.wait_for_function("() => document.getElementById('status').textContent === 'succeeded'")
    assert page.get_attribute("#loss-chart", "data-points") == "10"

    final, download = download_final(page, server, first, tmp_path / "downloaded.safetensors")
    shot(page, "job-done")
    assert download.suggested_filename == "shape_lora.safetensors"
    assert hashlib.sha256((tmp_path / "downloaded.safetensors").read_bytes()).hexdigest() == final["sha256"]

    second = queue_job(page, server, model, "second", STANDIN_OVERRIDES)
    page.wait_for_function("() => Number(document.getElementById('step').textContent) >= 1")
    page.click("#stop-button")
    page.wait_for_function("() => document.getElementById('status').textContent === 'cancelled'")
    stopped = api(server, f"/api/jobs/{second}")
    assert stopped["job"]["status"] == "cancelled" and stopped["progress"]["step"] < 10
    assert page.is_hidden("#stop-button") and page.is_visible("#retry-button")
    shot(page, "job-stopped")
    page.goto(f"{server}/")
    shot(page, "jobs")
    assert api(server, "/api/jobs")["total"] == 2

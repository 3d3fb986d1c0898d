"""The dashboard in a real browser (headless Debian chromium through Playwright) against a real uvicorn
server with its embedded worker running the stand-in trainer: log in, upload a dataset, queue a job and
watch its step count and loss curve grow live, download the LoRA (sha256 checked), stop a second job."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip)")

from tests.conftest import REPO  # noqa: E402
from tests.web.conftest import STANDIN_OVERRIDES, TOKEN  # noqa: E402


def chromium_path() -> str | None:
    """.ci/browser.sh exports KOHYA_WRAP_CHROMIUM; else Debian's chromium on the PATH."""
    given = os.environ.get("KOHYA_WRAP_CHROMIUM")
    if given and Path(given).is_file():
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = chromium_path()
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `apt-get install -y chromium` "
                                 "(.ci/browser.sh does it) or set KOHYA_WRAP_CHROMIUM")]
EXAMPLE = REPO / "templates" / "example-dataset" / "3_shape"
STEP_TIMEOUT_MS = 90_000


def shot(page, name: str) -> None:
    """A screenshot into $KOHYA_WRAP_SCREENSHOTS (when set) to look at what the browser showed."""
    folder = os.environ.get("KOHYA_WRAP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/login", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not come up")


@pytest.fixture
def server(tmp_path, isolated_home):
    """`kohya-wrap serve` for real: uvicorn on 127.0.0.1, a token, one embedded worker on the stand-in."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "KOHYA_WRAP_HOME": str(isolated_home),
           "KOHYA_WRAP_DB": f"sqlite:///{tmp_path / 'registry.db'}", "KOHYA_WRAP_SD_SCRIPTS": str(REPO / "tests" / "standin"),
           "KOHYA_WRAP_PYTHON": sys.executable, "STANDIN_SECONDS": "8"}
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "kohya_wrap", "serve", "--port", str(port), "--token-file",
                                str(token_file), "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def page(server):
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(STEP_TIMEOUT_MS)
        yield tab
        browser.close()


def log_in(page, url: str) -> None:
    page.goto(f"{url}/")
    assert page.url.startswith(f"{url}/login")
    page.fill("#token", "wrong-token-000000000")
    page.click("#login-button")
    assert "That is not the token" in page.inner_text("#login-error")
    page.fill("#token", TOKEN)
    page.click("#login-button")
    page.wait_for_selector("#jobs-table")


def upload_dataset(page, url: str) -> None:
    page.goto(f"{url}/datasets")
    page.fill("#upload-name", "shapes")
    page.fill("#upload-token", "shape")
    page.fill("#upload-repeats", "3")
    page.set_input_files("#upload-files", sorted(str(p) for p in EXAMPLE.iterdir()))
    page.click("#upload-button")
    page.wait_for_selector("#upload-ok")
    assert "12 files" in page.inner_text("#upload-ok") and "0 errors" in page.inner_text("#upload-ok")
    shot(page, "datasets")


def queue_job(page, url: str, model: Path, name: str) -> str:
    page.goto(f"{url}/new")
    page.select_option("#preset", "sdxl-style")
    page.wait_for_function("() => document.getElementById('preset-text').textContent.includes('network_dim')")
    page.select_option("#dataset-name", "shapes")
    page.fill("#model", str(model))
    page.fill("#name", name)
    page.fill("#overrides", "\n".join(STANDIN_OVERRIDES))
    page.click("#queue-button")
    page.wait_for_selector("#queued-jobs a, #result .error")
    assert page.locator("#result .error").count() == 0, page.inner_text("#result")
    link = page.wait_for_selector("#queued-jobs a")
    job_id = link.inner_text()
    link.click()
    page.wait_for_selector(f"#job[data-id='{job_id}']")
    return job_id


def watch_live(page) -> list[tuple[int, int]]:
    """(step, loss-chart points) each time either changes, until the job leaves 'running'."""
    page.wait_for_function("() => document.getElementById('status').textContent === 'running'")
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        state = page.evaluate("[document.getElementById('status').textContent, document.getElementById('step')"
                              ".textContent, document.getElementById('loss-chart').dataset.points]")
        sample = (int(state[1] or 0), int(state[2] or 0))
        if not seen or sample != seen[-1]:
            seen.append(sample)
            if len(seen) == 4:
                shot(page, "job-live")
        if state[0] != "running":
            return seen
        time.sleep(0.05)
    raise AssertionError("the job kept running")


def api(url: str, path: str) -> dict:
    import json

    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_dashboard_end_to_end_in_chromium(page, server, tmp_path):
    from tests.fake_model import write_fake_sdxl

    model = write_fake_sdxl(tmp_path / "base.safetensors")  # SDXL's key layout, sparse: only the header is real
    log_in(page, server)
    upload_dataset(page, server)

    first = queue_job(page, server, model, "first")
    live = watch_live(page)
    steps_while_running = sorted({step for step, _ in live if step > 0})
    assert len(steps_while_running) >= 3, live  # the count grew on the page while the job ran
    points = [p for _, p in live]
    assert points == sorted(points) and len(set(points)) >= 3, live  # and so did the loss curve
    page.wait_for_function("() => document.getElementById('status').textContent === 'succeeded'")
    assert page.get_attribute("#loss-chart", "data-points") == "10"

    page.wait_for_selector("#versions a.download")
    shot(page, "job-done")
    detail = api(server, f"/api/jobs/{first}")
    final = next(m for m in detail["models"] if m["file"] == "shape_lora.safetensors")
    row = page.locator("#versions tr", has_text=final["ref"])
    assert row.locator("code.sha").inner_text() == final["sha256"]
    with page.expect_download() as download:
        row.locator("a.download").click()
    saved = tmp_path / "downloaded.safetensors"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "shape_lora.safetensors"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == final["sha256"]

    second = queue_job(page, server, model, "second")
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

"""Helpers of the browser tests: a real `kohya-wrap serve` subprocess, headless chromium through Playwright,
and the steps a user takes in the dashboard."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO
from tests.web.conftest import TOKEN

EXAMPLE = REPO / "templates" / "example-dataset" / "3_shape"


def chromium_path() -> str | None:
    """.ci/browser.sh exports KOHYA_WRAP_CHROMIUM; else Debian's chromium on the PATH."""
    given = os.environ.get("KOHYA_WRAP_CHROMIUM")
    if given and Path(given).is_file():
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


NO_CHROMIUM = "no chromium: `apt-get install -y chromium` (.ci/browser.sh does it) or set KOHYA_WRAP_CHROMIUM"


def shot(page, name: str, clip_height: int | None = None) -> None:
    """A screenshot into $KOHYA_WRAP_SCREENSHOTS (when set), as a small palette PNG."""
    folder = os.environ.get("KOHYA_WRAP_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    target = Path(folder) / f"{name}.png"
    page.screenshot(path=str(target), full_page=clip_height is None,
                    clip={"x": 0, "y": 0, "width": 1280, "height": clip_height} if clip_height else None)
    from PIL import Image

    with Image.open(target) as image:
        small = image.convert("RGB").quantize(colors=64)
    small.save(target, optimize=True)


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


@contextlib.contextmanager
def serve(tmp_path: Path, home: Path, env: dict):
    """`kohya-wrap serve` for real: uvicorn on 127.0.0.1 with a token and one embedded worker; yields its URL."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "KOHYA_WRAP_HOME": str(home),
           "KOHYA_WRAP_DB": f"sqlite:///{tmp_path / 'registry.db'}", **env}
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "kohya_wrap", "serve", "--port", str(port), "--token-file",
                                str(token_file), "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGINT)  # the embedded worker puts a running job back in the queue
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextlib.contextmanager
def browser_page(timeout_ms: int):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(timeout_ms)
        try:
            yield tab
        finally:
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


def queue_job(page, url: str, model: Path, name: str, overrides: list[str]) -> str:
    page.goto(f"{url}/new")
    page.select_option("#preset", "sdxl-style")
    page.wait_for_function("() => document.getElementById('preset-text').textContent.includes('network_dim')")
    page.select_option("#dataset-name", "shapes")
    page.fill("#model", str(model))
    page.fill("#name", name)
    page.fill("#overrides", "\n".join(overrides))
    page.click("#queue-button")
    page.wait_for_selector("#queued-jobs a, #result .error")
    assert page.locator("#result .error").count() == 0, page.inner_text("#result")
    link = page.wait_for_selector("#queued-jobs a")
    job_id = link.inner_text()
    link.click()
    page.wait_for_selector(f"#job[data-id='{job_id}']")
    return job_id


def watch_live(page, timeout_s: float, on_change=None) -> list[tuple[int, int]]:
    """(step, loss-chart points) each time either changes, until the job leaves 'running'."""
    page.wait_for_function("() => document.getElementById('status').textContent === 'running'")
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = page.evaluate("() => [document.getElementById('status').textContent, document.getElementById('step')"
                              ".textContent, document.getElementById('loss-chart').dataset.points]")
        sample = (int(state[1] or 0), int(state[2] or 0))
        if not seen or sample != seen[-1]:
            seen.append(sample)
            if on_change:
                on_change(seen)
        if state[0] != "running":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the job kept running: {seen}")


def api(url: str, path: str) -> dict:
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def download_final(page, url: str, job_id: str, target: Path) -> tuple[dict, object]:
    """Click the final LoRA's download link on the job page; (its registry version, the download)."""
    page.wait_for_selector("#versions a.download")
    detail = api(url, f"/api/jobs/{job_id}")
    final_file = Path(next(s["path"] for s in detail["saved"] if s.get("final"))).name  # the `saved` event says
    final = next(m for m in detail["models"] if m["file"] == final_file)
    row = page.locator("#versions tr", has_text=final["ref"])
    assert row.locator("code.sha").inner_text() == final["sha256"]
    with page.expect_download() as download:
        row.locator("a.download").click()
    download.value.save_as(target)
    return final, download.value

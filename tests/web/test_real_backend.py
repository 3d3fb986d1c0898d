"""The browser flow once for real: the real sd-scripts on the CPU (random full-size SDXL checkpoint, 256 px,
rank 4, 6 steps with a save and a sample every 3), driven through the dashboard in headless chromium.

Needs KOHYA_WRAP_SD_SCRIPTS (+ KOHYA_WRAP_PYTHON), the checkpoint `kohya-wrap doctor --smoke` builds (or
KOHYA_WRAP_TEST_MODEL) and chromium. About 10 minutes and ~22 GB RSS on 2 cores: run it under
`flock /tmp/sdxl-real.lock`. KOHYA_WRAP_SCREENSHOTS=DIR keeps what the browser showed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip)")

from tests.conftest import FIXTURES  # noqa: E402
from tests.web.browser import (NO_CHROMIUM, api, browser_page, chromium_path, download_final, log_in,  # noqa: E402
                               queue_job, serve, shot, upload_dataset, watch_live)

pytestmark = [pytest.mark.backend, pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)]
TIMEOUT_MS = 20 * 60 * 1000
SAMPLE = 'sample.sample_prompts=["shape, a red circle on a blue background --w 256 --h 256 --s 4 --d 1"]'


def real_model() -> Path:
    if not os.environ.get("KOHYA_WRAP_SD_SCRIPTS"):
        pytest.skip("KOHYA_WRAP_SD_SCRIPTS is not set")
    from kohya_wrap.backend.smoke import CHECKPOINT_NAME

    path = Path(os.environ.get("KOHYA_WRAP_TEST_MODEL") or Path.home() / ".kohya-wrap" / "cache" / "smoke" / CHECKPOINT_NAME)
    if not path.is_file():
        pytest.skip(f"no random SDXL checkpoint at {path}: run `kohya-wrap doctor --smoke` first")
    return path


def overrides(steps: int) -> list[str]:
    from kohya_wrap.backend.smoke import smoke_overrides

    return [*smoke_overrides(steps, 256, 2), "saving.save_every_n_steps=3", "sample.sample_every_n_steps=3", SAMPLE]


def test_real_training_through_the_dashboard(tmp_path, isolated_home):
    from kohya_wrap.backend.tokenizers import ensure_tokenizer_cache

    model = real_model()
    # the server's home is this test's: fill its offline tokenizer cache (no hub access at train time)
    ensure_tokenizer_cache(vocab=FIXTURES / "clip-tokenizers" / "bpe_simple_vocab_16e6.txt.gz")
    with serve(tmp_path, isolated_home, {}) as url, browser_page(TIMEOUT_MS) as page:
        log_in(page, url)
        upload_dataset(page, url)
        job = queue_job(page, url, model, "real", overrides(6))
        shot(page, "web-real-1-queued", clip_height=900)

        def on_change(seen):
            if seen[-1][0] == 2:
                shot(page, "web-real-2-live", clip_height=900)

        live = watch_live(page, TIMEOUT_MS / 1000, on_change)
        assert [step for step, _ in live if step > 0][:1] == [1], live
        page.wait_for_function("() => document.getElementById('status').textContent === 'succeeded'")
        assert page.get_attribute("#loss-chart", "data-points") == "6"
        page.wait_for_function("() => Number(document.getElementById('sample-count').textContent) >= 2")
        final, download = download_final(page, url, job, tmp_path / "real.safetensors")
        assert hashlib.sha256((tmp_path / "real.safetensors").read_bytes()).hexdigest() == final["sha256"]
        page.wait_for_function("() => Number(document.getElementById('lr-chart').dataset.points) >= 6")
        shot(page, "web-real-3-done")

        second = queue_job(page, url, model, "real-stop", overrides(40))
        page.wait_for_function("() => Number(document.getElementById('step').textContent) >= 1")
        page.click("#stop-button")
        page.wait_for_function("() => document.getElementById('status').textContent === 'cancelled'")
        assert api(url, f"/api/jobs/{second}")["job"]["status"] == "cancelled"
        shot(page, "web-real-4-stopped", clip_height=900)
        page.goto(f"{url}/models/{final['ref']}")
        shot(page, "web-real-5-model", clip_height=900)
        page.goto(f"{url}/")
        shot(page, "web-real-6-jobs", clip_height=420)

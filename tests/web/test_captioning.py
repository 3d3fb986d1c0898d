"""The dataset page starts an auto-captioning run: the same captioning use case as `data captions auto`."""

from __future__ import annotations

import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("sse_starlette", reason="the dashboard needs the [web] extra")

from kohya_wrap.web.settings import datasets_dir  # noqa: E402
from tests.web.test_datasets import png, upload  # noqa: E402


def _wait(client, name: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/datasets/{name}/captions/auto").json()
        if status["state"] != "running":
            return status
        time.sleep(0.2)
    raise AssertionError("captioning never finished")


def test_a_captioning_run_fills_missing_captions_with_the_trigger(client, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tests.captioning import tiny_models

    monkeypatch.setenv("KOHYA_WRAP_CAPTION_PYTHON", sys.executable)
    tagger = tiny_models.build_tagger(tmp_path / "tagger")
    made = upload(client, [("a.png", png()), ("a.txt", b"kept as it is"), ("b.png", png((0, 90, 200)))],
                  token="ohwx", class_tokens="cat", repeats="5")
    assert made.status_code == 201, made.text
    started = client.post("/api/datasets/cats/captions/auto",
                          json={"captioner": "wd14", "model_dir": str(tagger), "mode": "fill", "trigger": "ohwx"})
    assert started.status_code == 202, started.text
    status = _wait(client, "cats")
    assert status["state"] == "finished", status
    folder = datasets_dir() / "cats" / "img" / "5_ohwx cat"
    assert (folder / "a.txt").read_text().startswith("kept as it is")  # fill never touches an existing caption
    assert (folder / "b.txt").read_text().startswith("ohwx")


def test_bad_requests_say_every_problem_and_an_unknown_dataset_is_404(client):
    made = upload(client, [("a.png", png())], token="ohwx", class_tokens="cat", repeats="5")
    assert made.status_code == 201
    bad = client.post("/api/datasets/cats/captions/auto", json={"captioner": "clip", "mode": "merge"})
    assert bad.status_code >= 400
    assert "captioner must be one of" in bad.text and "mode must be one of" in bad.text and "model_dir" in bad.text
    assert client.get("/api/datasets/nope/captions/auto").status_code == 404
    assert client.get("/api/datasets/cats/captions/auto").json() == {"state": "idle"}


def test_the_page_of_a_prepared_dataset_has_the_captioning_form(client):
    assert upload(client, [("a.png", png())], token="ohwx", class_tokens="cat", repeats="5").status_code == 201
    page = client.get("/datasets/cats").text
    assert 'id="auto-captions"' in page and "<option>wd14</option>" in page

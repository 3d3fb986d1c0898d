"""In the real backend environment (KOHYA_WRAP_PYTHON): prepare a dataset, caption it with the tiny tagger and
BLIP, the child running in the backend's Python (transformers as sd-scripts pins it)."""

from __future__ import annotations

import json
import os

import pytest

from .conftest import COLOURS, make_source, read_caption

pytestmark = pytest.mark.backend


@pytest.fixture
def backend_python(monkeypatch) -> str:
    python = os.environ.get("KOHYA_WRAP_PYTHON")
    if not python:
        pytest.skip("KOHYA_WRAP_PYTHON is not set")
    monkeypatch.delenv("KOHYA_WRAP_CAPTION_PYTHON")  # the default: the backend's Python
    return python


def test_prepare_then_caption_in_the_backend_python(cli, tmp_path, tagger_dir, blip_dir, backend_python):
    src = make_source(tmp_path / "raw", {f"{name}{i}": (name, (96, 64)) for name in COLOURS for i in range(2)})
    assert cli("data", "prepare", src, "--out", tmp_path / "ds", "--token", "ohwx", "--class", "thing",
               "--repeats", "2").exit_code == 0
    root = tmp_path / "ds" / "img"
    tagged = cli("data", "captions", root, "auto", "--captioner", "wd14", "--model-dir", tagger_dir,
                 "--trigger", "ohwx", "--batch-size", "4", "--events", "--json")
    assert tagged.exit_code == 0, tagged.output
    summary = json.loads(tagged.stdout)
    assert summary["python"] == backend_python and summary["written"] == 8
    started = next(json.loads(line) for line in tagged.stderr.splitlines() if '"started"' in line)
    assert started["python"] == backend_python and started["versions"]["onnxruntime"]
    assert read_caption(root, "red0").startswith("ohwx, red theme, ")
    before = read_caption(root, "blue1")
    described = cli("data", "captions", root, "auto", "--captioner", "blip", "--model-dir", blip_dir,
                    "--mode", "append", "--max-length", "8", "--batch-size", "4", "--device", "cpu", "--json")
    assert described.exit_code == 0, described.output
    assert json.loads(described.stdout)["edited"] == 8
    after = read_caption(root, "blue1")
    assert after.startswith(before + ", ") and len(after) > len(before) + 3  # BLIP's sentence appended

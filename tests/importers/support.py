"""Shared fixture lists and an import-then-validate helper for the importer tests."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap.config.resolve import resolve
from kohya_wrap.importers.preset import import_preset
from tests.conftest import FIXTURES

IMPORTS = FIXTURES / "imports"
KOHYA_PRESETS = sorted((IMPORTS / "kohya_ss" / "presets").glob("*.json"))
KOHYA_SAVED = sorted((IMPORTS / "kohya_ss" / "saved").glob("*.json"))
LORA_HEADERS = sorted((IMPORTS / "lora").glob("*.header.json"))
SD = IMPORTS / "sd_scripts"
# (id, source, dataset config) for every fixture that must import into a valid preset.
VALID_SOURCES = (
    [(path.stem, path, None) for path in KOHYA_PRESETS + KOHYA_SAVED]
    + [("lora-easy-sdxl", IMPORTS / "lora_easy" / "sdxl-locon-composed.toml", None)]
    + [(path.stem, SD / path.name, None) for path in sorted(SD.glob("*.toml")) if "dataset" not in path.name]
    + [("cpu-run-with-dataset", SD / "cpu-run.training_args.toml", SD / "cpu-run.dataset.toml"),
       ("cpu-run-simple-with-dataset", SD / "cpu-run-simple.training_args.toml", SD / "cpu-run-simple.dataset.toml")]
    + [(path.name.split(".safetensors")[0], path, None) for path in LORA_HEADERS]
)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def import_valid(source: Path, tmp_path: Path, dataset_config: Path | None = None, fmt: str | None = None):
    """Import SOURCE into tmp_path/imported.toml; assert it passes config validate; return (result, resolved)."""
    result = import_preset(source, fmt, dataset_config, tmp_path / "imported.toml")
    assert result.valid, [issue.line() for issue in result.problems]
    return result, resolve(str(result.out))

"""A validation run is recorded where users look: registry.json, the model version's row, report.html; and a
reference may name a job, a model version or a file."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from kohya_wrap.registry.models import list_versions
from kohya_wrap.registry.queue import enqueue
from tests.registry.conftest import run_worker


def _fake_validation(job: Path) -> tuple[dict, Path]:
    run_dir = job / "validation" / "20261201-120000"
    run_dir.mkdir(parents=True)
    Image.new("RGB", (64, 32), (200, 30, 30)).save(run_dir / "grid.png")
    final = job / "output" / "shape_lora.safetensors"
    record = {"run_id": run_dir.name, "ok": True, "problems": [], "comparison": {"effect": {"shape_lora": 12.5}},
              "summary_line": "shape_lora changes the base by 12.5 (mean abs pixel difference)",
              "loras": [{"name": "shape_lora", "path": str(final), "job": str(job), "final": True}]}
    (run_dir / "validation.json").write_text(json.dumps(record))
    return record, run_dir


def test_validation_goes_into_registry_json_the_version_row_and_the_report(registry, standin, monkeypatch):
    from kohya_wrap.runner.lookup import record_validation

    job = standin("checked")
    enqueue(registry, job)
    run_worker(registry)
    monkeypatch.setenv("KOHYA_WRAP_DB", registry.url)
    record, run_dir = _fake_validation(job)
    assert record_validation(record, run_dir) == [str(job)]
    meta = json.loads((job / "registry.json").read_text())
    assert meta["models"]["shape_lora.safetensors"]["validation"]["effect"] == {"shape_lora": 12.5}
    [final] = [v for v in list_versions(registry) if v["uri"].endswith("/shape_lora.safetensors")]
    assert final["validation"]["summary"].startswith("shape_lora changes the base")
    html = (job / "report.html").read_text()
    assert "Validation" in html and "changes the base by 12.5" in html and "data:image/png;base64," in html


def test_lookup_resolves_a_job_name_and_a_model_version(registry, standin, monkeypatch):
    from kohya_wrap.runner.lookup import lora_path

    job = standin("lookme")
    enqueue(registry, job)
    run_worker(registry)
    monkeypatch.setenv("KOHYA_WRAP_DB", registry.url)
    assert lora_path("lookme") == str(job)
    [first] = [v for v in list_versions(registry) if v["job_id"] == job.name][:1]
    assert Path(lora_path(f"{first['model_name']}:v{first['version']}")).is_file()


def test_migration_adds_the_validation_column_to_an_older_database(sqlite_url):
    from kohya_wrap.registry import schema
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.registry.migrate import current_version, migrate

    registry = open_registry(sqlite_url)
    with registry.write() as conn:  # make it look like a database from before migration 2
        conn.execute(sa.text("ALTER TABLE model_versions DROP COLUMN validation"))
        conn.execute(schema.schema_migrations.delete().where(schema.schema_migrations.c.version == 2))
    assert current_version(registry) == 1
    assert [m.version for m in migrate(registry)] == [2]
    with registry.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("model_versions")}
    assert "validation" in columns and current_version(registry) == 2

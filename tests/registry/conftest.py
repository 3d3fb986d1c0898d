"""Registry fixtures: a database per test (SQLite, and PostgreSQL when KOHYA_WRAP_TEST_PG_URL is set),
job folders rendered by the real prepare step, and the stand-in trainer as backend."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import REPO

STANDIN = REPO / "tests" / "standin"
PG_ENV = "KOHYA_WRAP_TEST_PG_URL"
# Job config for the stand-in: run it directly (no accelerate), on this CPU, under the output name
# that the replayed run's bytes announce.
STANDIN_OVERRIDES = ['launch.launcher="python"', "platform.allow_cpu=true", "launch.grace_seconds=5",
                     'saving.output_name="shape_lora"']


def reset_postgres(url: str) -> None:
    from kohya_wrap.registry.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        for table in ("model_versions", "training_jobs", "training_datasets", "schema_migrations"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()


def pg_url_or_skip() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (.ci/postgres.sh starts a local PostgreSQL and sets it)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path, monkeypatch):
    """A fresh, empty registry database; also exported as KOHYA_WRAP_DB for CLI and child processes."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = pg_url_or_skip()
        reset_postgres(url)
    monkeypatch.setenv("KOHYA_WRAP_DB", url)
    yield url
    if request.param == "postgresql":
        reset_postgres(url)


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("KOHYA_WRAP_DB", url)
    return url


@pytest.fixture
def registry(db_url):
    from kohya_wrap.registry.db import open_registry

    reg = open_registry(db_url)
    yield reg
    reg.close()


@pytest.fixture
def sqlite_registry(sqlite_url):
    """For tests about processes and signals, where the database kind does not matter."""
    from kohya_wrap.registry.db import open_registry

    reg = open_registry(sqlite_url)
    yield reg
    reg.close()


@pytest.fixture
def runs(isolated_home) -> Path:
    path = isolated_home / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bare_job(runs: Path, job_id: str, name: str = "bare") -> Path:
    """A job folder with only a job.toml: enough for queue mechanics that never launch anything."""
    folder = runs / job_id
    folder.mkdir(parents=True)
    (folder / "job.toml").write_text(f'[meta]\nname = "{name}"\n')
    return folder


@pytest.fixture
def standin(monkeypatch, tmp_path):
    """Use the replaying stand-in trainer as the sd-scripts backend; returns a prepare(name, *overrides)."""
    from kohya_wrap.runner import prepare_job

    monkeypatch.setenv("KOHYA_WRAP_SD_SCRIPTS", str(STANDIN))
    monkeypatch.setenv("KOHYA_WRAP_PYTHON", sys.executable)
    monkeypatch.setenv("STANDIN_SECONDS", "1.0")
    from tests.fake_model import write_fake_sdxl

    model = write_fake_sdxl(tmp_path / "base.safetensors")

    def prepare(name: str = "shape", *overrides: str, source: str = "sdxl-style") -> Path:
        return prepare_job(source, [*STANDIN_OVERRIDES, *overrides], dataset=REPO / "templates" / "example-dataset",
                           model=model, name=name)

    prepare.model = model
    return prepare


def worker_env(**extra: str) -> dict:
    """The environment a worker subprocess needs: this test's home, database and backend."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    return env


def run_worker(registry, scenarios: dict[str, str] | None = None, job_env: dict[str, dict] | None = None,
               **options):
    """Run a worker in this process until the queue is empty. scenarios maps a job-id substring to the
    stand-in scenario that job replays (e.g. a captured failed run); job_env to extra environment."""
    from unittest import mock

    from kohya_wrap.runner import worker as worker_module
    from kohya_wrap.runner.worker import Worker, WorkerOptions

    run_job = worker_module.run_job

    def run(job_dir, **kwargs):
        env = dict(kwargs.pop("env") or {})
        for needle, scenario in (scenarios or {}).items():
            if needle in Path(job_dir).name:
                env["STANDIN_SCENARIO"] = scenario
        for needle, extra in (job_env or {}).items():
            if needle in Path(job_dir).name:
                env.update(extra)
        return run_job(job_dir, env=env or None, **kwargs)

    said: list[str] = []
    options = {"drain": True, "poll_s": 0.1, **options}
    # The worker's own run_job, with the stand-in scenario of each job added to its environment.
    with mock.patch.object(worker_module, "run_job", run):
        result = Worker(registry, WorkerOptions(**options), say=said.append).run()
    result.said = said
    return result


def snapshot(registry) -> dict:
    """Every row of the three tables, in a stable order, without autoincrement ids."""
    from kohya_wrap.registry import schema

    tables = {"jobs": (schema.training_jobs, "id"), "versions": (schema.model_versions, "uri"),
              "datasets": (schema.training_datasets, "id")}
    out = {}
    with registry.read() as conn:
        for name, (table, key) in tables.items():
            rows = [{k: v for k, v in dict(r).items() if not (name == "versions" and k == "id")}
                    for r in conn.execute(sa.select(table)).mappings()]
            out[name] = sorted(rows, key=lambda r: r[key])
    return out

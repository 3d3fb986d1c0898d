"""Opening the registry: default location, URLs, SQLite settings, versioned migrations."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from kohya_wrap import paths
from kohya_wrap.registry import schema
from kohya_wrap.registry.db import RegistryError, default_url, normalise_url, open_registry
from kohya_wrap.registry.migrate import MIGRATIONS, Migration, current_version, migrate, pending

NEXT = MIGRATIONS[-1].version + 1  # the first version a future migration would take
from tests.registry.conftest import worker_env


def test_default_is_a_sqlite_file_in_the_home_folder(monkeypatch):
    monkeypatch.delenv("KOHYA_WRAP_DB", raising=False)
    assert default_url() == f"sqlite:///{paths.home() / 'registry.db'}"
    registry = open_registry()
    assert (paths.home() / "registry.db").is_file() and registry.dialect == "sqlite"


def test_env_url_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("KOHYA_WRAP_DB", f"sqlite:///{tmp_path / 'team.db'}")
    open_registry()
    assert (tmp_path / "team.db").is_file()


def test_postgres_urls_use_psycopg3():
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert normalise_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"


def test_bad_url_is_a_clean_error():
    with pytest.raises(RegistryError, match="nosuchdialect") as caught:
        open_registry("nosuchdialect://x")
    assert "KOHYA_WRAP_DB" in caught.value.hint


def test_unreachable_server_is_a_clean_error():
    with pytest.raises(RegistryError, match="Cannot use registry database"):
        open_registry("postgresql://nobody:secret@127.0.0.1:1/none")


def test_sqlite_uses_wal_and_a_busy_timeout(sqlite_url):
    registry = open_registry(sqlite_url)
    with registry.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30000


def test_fresh_database_is_created_and_stamped(registry):
    assert current_version(registry) == MIGRATIONS[-1].version
    assert pending(registry) == [] and migrate(registry) == []
    with registry.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert {"training_jobs", "model_versions", "training_datasets", "schema_migrations"} <= names


def test_later_migrations_run_once_in_order(registry):
    ran = []

    def add_column(conn):
        ran.append(2)
        conn.execute(sa.text("ALTER TABLE training_jobs ADD COLUMN extra_note TEXT"))

    def add_index(conn):
        ran.append(3)
        conn.execute(sa.text("CREATE INDEX ix_extra_note ON training_jobs (extra_note)"))

    later = (*MIGRATIONS, Migration(NEXT, "extra note", add_column), Migration(NEXT + 1, "index it", add_index))
    assert [m.version for m in migrate(registry, later)] == [NEXT, NEXT + 1]
    assert migrate(registry, later) == [] and ran == [2, 3]  # the functions ran once, in order
    with registry.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("training_jobs")}
        stamped = conn.execute(sa.select(schema.schema_migrations.c.version)).scalars().all()
    assert "extra_note" in columns and sorted(stamped) == list(range(1, NEXT + 2))


def test_a_failing_migration_leaves_the_version_unchanged(registry):
    def broken(conn):
        conn.execute(sa.text("ALTER TABLE training_jobs ADD COLUMN half_done TEXT"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        migrate(registry, (*MIGRATIONS, Migration(NEXT, "broken", broken)))
    assert current_version(registry) == NEXT - 1
    with registry.read() as conn:
        assert "half_done" not in {c["name"] for c in sa.inspect(conn).get_columns("training_jobs")}


def test_a_newer_database_is_refused(registry):
    migrate(registry, (*MIGRATIONS, Migration(NEXT, "from the future", lambda conn: None)))
    with pytest.raises(RegistryError, match="newer than this kohya-wrap knows"):
        migrate(registry, MIGRATIONS)


def test_migrations_must_be_ordered(registry):
    with pytest.raises(ValueError):
        migrate(registry, (Migration(2, "b", lambda c: None), Migration(1, "a", lambda c: None)))


def test_processes_opening_a_new_database_together_agree(db_url):
    code = "from kohya_wrap.registry.db import open_registry; open_registry()"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=worker_env()) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    registry = open_registry(db_url)
    with registry.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.schema_migrations)).scalar() == len(MIGRATIONS)

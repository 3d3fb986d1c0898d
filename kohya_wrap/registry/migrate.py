"""Versioned schema migrations: a schema_migrations table and an ordered list of migration functions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kohya_wrap.registry import schema
from kohya_wrap.registry.schema import RegistryError

# Any constant works; all kohya-wrap processes must agree on it (PostgreSQL advisory lock key).
_PG_LOCK_KEY = 0x6B6F6879


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)


# Append only. A new database is created from schema.py and stamped with every version here, so each
# later migration only has to bring an older database to the shape schema.py describes.
def _version_validation(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE model_versions ADD COLUMN validation JSON"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _initial),
    Migration(2, "model_versions.validation", _version_validation),
)


def _applied(conn: Connection) -> set[int]:
    if not sa.inspect(conn).has_table(schema.schema_migrations.name):
        return set()
    return set(conn.execute(sa.select(schema.schema_migrations.c.version)).scalars())


def current_version(registry) -> int:
    with registry.read() as conn:
        return max(_applied(conn), default=0)


def _lock(conn: Connection) -> None:
    # SQLite already holds the write lock (BEGIN IMMEDIATE); PostgreSQL needs an explicit one so two
    # workers starting together do not both create the tables.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _stamp(conn: Connection, migration: Migration) -> None:
    conn.execute(
        schema.schema_migrations.insert().values(
            version=migration.version, name=migration.name, applied_at=time.time()
        )
    )


def pending(registry, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    with registry.read() as conn:
        done = _applied(conn)
    _check_not_newer(done, migrations)
    return [m for m in migrations if m.version not in done]


def _check_not_newer(done: set[int], migrations: Sequence[Migration]) -> None:
    known = {m.version for m in migrations}
    unknown = sorted(done - known)
    if unknown:
        raise RegistryError(
            f"The registry has schema version {max(unknown)}, newer than this kohya-wrap knows "
            f"({max(known, default=0)}).",
            hint="upgrade kohya-wrap, or point KOHYA_WRAP_DB at another database",
        )


def migrate(registry, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """Bring the database up to date; returns the migrations applied now (empty when current)."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migrations must have unique, increasing versions")
    if not pending(registry, migrations):
        return []
    with registry.write() as conn:
        _lock(conn)
        done = _applied(conn)
        _check_not_newer(done, migrations)
        fresh = not done and not sa.inspect(conn).has_table(schema.training_jobs.name)
        todo = [m for m in migrations if m.version not in done]
        if fresh:
            schema.metadata.create_all(conn, checkfirst=True)
        else:
            schema.schema_migrations.create(conn, checkfirst=True)
        for migration in todo:
            if not fresh:
                migration.apply(conn)
            _stamp(conn, migration)
    return todo

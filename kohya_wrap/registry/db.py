"""Open the registry database: SQLite (WAL, busy timeout) by default, any SQLAlchemy URL via KOHYA_WRAP_DB."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from kohya_wrap import paths
from kohya_wrap.registry.schema import RegistryError  # noqa: F401 (defined in schema; imported from here)

BUSY_TIMEOUT_S = 60.0


def default_url() -> str:
    """KOHYA_WRAP_DB if set, else a SQLite file in the kohya-wrap home folder."""
    return os.environ.get("KOHYA_WRAP_DB") or f"sqlite:///{paths.home() / 'registry.db'}"


def normalise_url(url: str) -> str:
    # A bare postgresql:// URL would pick psycopg2, which we do not depend on; psycopg 3 is the driver.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    read_only = False
    if parsed.database and parsed.database != ":memory:":
        database = Path(os.path.abspath(parsed.database))
        # A registry on a read-only place can still be looked at (opened read-only); anything else that
        # cannot hold it is a clear error, not a traceback.
        read_only = database.is_file() and paths.read_only_place(database.parent)
        if not read_only:
            what = "the registry's folder" + ("" if os.environ.get("KOHYA_WRAP_DB") else " (KOHYA_WRAP_HOME)")
            paths.writable_dir(database.parent, what)
        else:
            # nobody can change a file on a read-only filesystem: immutable lets SQLite skip the WAL index
            frozen = "&immutable=1" if paths.read_only_filesystem(database.parent) else ""
            url = f"sqlite:///file:{database}?mode=ro{frozen}&uri=true"
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # pysqlite's own transaction handling defers BEGIN until a write; we issue BEGIN ourselves
        # so that a claim (read then write) holds the write lock from its first statement.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if not read_only:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection):
        mode = "DEFERRED" if conn.get_execution_options().get("kw_read_only") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        return sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as error:
        raise RegistryError(
            f"Cannot open registry database {redact(url)}: {error}",
            hint="set KOHYA_WRAP_DB to a SQLAlchemy URL such as sqlite:///path/registry.db or "
            "postgresql://user:pass@host/db (PostgreSQL needs `pip install 'psycopg[binary]'`)",
        ) from None


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


class RegistryDamaged(RegistryError):
    """The registry database file is damaged (truncated, overwritten): it must be moved aside and rebuilt."""


# What SQLite says about a file that is not (or no longer) a whole database.
DAMAGE_MARKS = ("file is not a database", "database disk image is malformed", "malformed database schema",
                "file is encrypted or is not a database")


def damage_of(error: BaseException, url: str) -> RegistryDamaged | None:
    """The RegistryDamaged that ERROR means, with the way to recover; None for any other database error."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    text = lines[0] if lines else ""
    if not any(mark in text for mark in DAMAGE_MARKS):
        return None
    where = make_url(url).database if url.startswith("sqlite") else redact(url)
    return RegistryDamaged(
        f"The registry database {where} is damaged ({text}).",
        hint="the job folders hold everything it records: `kohya-wrap registry rebuild --move-aside` keeps the "
             "damaged file beside it (as <name>.damaged-<time>) and rebuilds the registry from the runs folder")


@contextmanager
def named_damage(url: str) -> Iterator[None]:
    """Turn SQLite's 'malformed' / 'not a database' errors into RegistryDamaged (one clear message)."""
    try:
        yield
    except sa.exc.DatabaseError as error:
        damage = damage_of(error, url)
        if damage is None:
            raise
        raise damage from None


@dataclass
class Registry:
    """An open registry: the engine plus write/read transaction helpers."""

    engine: Engine
    url: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that takes the write lock at once (SQLite BEGIN IMMEDIATE)."""
        with named_damage(self.url), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with named_damage(self.url), self.engine.connect() as conn:
            conn = conn.execution_options(kw_read_only=True)
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()


def open_registry(url: str | None = None, *, migrate: bool = True) -> Registry:
    """Open (and by default bring up to date) the registry at `url` or the default location."""
    from kohya_wrap.registry.migrate import migrate as run_migrations

    url = normalise_url(url or default_url())
    registry = Registry(make_engine(url), url)
    if migrate:
        try:
            with named_damage(url):
                run_migrations(registry)
        except sa.exc.OperationalError as error:
            raise RegistryError(
                f"Cannot use registry database {redact(url)}: {error.orig}",
                hint="check KOHYA_WRAP_DB, that the server is running, and the file permissions",
            ) from None
    return registry

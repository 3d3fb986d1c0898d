"""Recovering a damaged registry: find the damage, move a damaged SQLite file aside (kept, never deleted)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kohya_wrap.registry import schema
from kohya_wrap.registry.db import RegistryDamaged, damage_of, normalise_url, open_registry
from kohya_wrap.registry.schema import RegistryError

TABLES = (schema.training_jobs, schema.model_versions, schema.training_datasets)


def find_damage(url: str) -> RegistryDamaged | None:
    """The damage of the registry at URL: it does not open, a table cannot be read, or SQLite's
    quick_check finds broken pages. None when it is whole."""
    try:
        registry = open_registry(url)
    except RegistryDamaged as error:
        return error
    try:
        with registry.read() as conn:
            for table in TABLES:
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            if registry.dialect == "sqlite":
                verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
                if verdict != "ok":
                    return damage_of(RuntimeError(f"database disk image is malformed: {verdict}"), url)
    except RegistryDamaged as error:
        return error
    finally:
        registry.close()
    return None


def move_aside(url: str, now: float | None = None) -> list[Path]:
    """Rename a SQLite registry file (and its -wal / -shm) to <name>.damaged-<time>; returns the new paths."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        raise RegistryError("Only a SQLite registry file can be moved aside.",
                            hint="for PostgreSQL, restore a backup or drop the tables; `kohya-wrap registry rebuild` "
                                 "then re-creates every row from the job folders")
    database = Path(make_url(url).database or "")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    moved = []
    for suffix in ("", "-wal", "-shm"):
        source = database.with_name(database.name + suffix)
        if source.exists():
            target = source.with_name(f"{database.name}.damaged-{stamp}{suffix}")
            os.replace(source, target)
            moved.append(target)
    return moved

"""Registry facts for `registry info`: where it is, schema version, row counts."""

from __future__ import annotations

import sqlalchemy as sa

from kohya_wrap.registry import schema
from kohya_wrap.registry.db import Registry, redact
from kohya_wrap.registry.migrate import current_version


def registry_info(registry: Registry) -> dict:
    tables = (schema.training_jobs, schema.model_versions, schema.training_datasets)
    with registry.read() as conn:
        rows = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in tables}
        by_status = dict(conn.execute(
            sa.select(schema.training_jobs.c.status, sa.func.count())
            .group_by(schema.training_jobs.c.status).order_by(schema.training_jobs.c.status)).all())
    return {"url": redact(registry.url), "dialect": registry.dialect,
            "schema_version": current_version(registry), "rows": rows, "jobs_by_status": by_status}

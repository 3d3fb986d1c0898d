"""model_versions rows: each saved LoRA file of a job is a version (v1, v2, ... per model name)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.registry import schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.artifacts.lora import inspect_output, key_metadata
from kohya_wrap.job.folder import JobFolder
from kohya_wrap.job.meta import update_model_entry
from kohya_wrap.registry.rows import model_key, saved_times, version_row

versions_t = schema.model_versions
_PG_VERSION_LOCK = 0x6B770001
HEADER_COPY = ".safetensors.header.json"
_REF = re.compile(r"^(?P<name>.+?)(?:[:@]v?(?P<version>\d+))?$")


class ModelNotFound(KohyaWrapError):
    """No model version matches the reference."""


def _lock_versions(conn: Connection) -> None:
    # Version numbers are max+1 per name; PostgreSQL needs a lock so two workers never pick the same.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_VERSION_LOCK})


def _next_version(conn: Connection, name: str) -> int:
    query = sa.select(sa.func.max(versions_t.c.version)).where(versions_t.c.model_name == name)
    return (conn.execute(query).scalar() or 0) + 1


def _taken(conn: Connection, name: str, version: int) -> bool:
    query = sa.select(versions_t.c.uri).where(versions_t.c.model_name == name,
                                               versions_t.c.version == version)
    return conn.execute(query).first() is not None


def insert_versions(conn: Connection, rows: list[dict]) -> list[dict]:
    """Insert new files (keeping a version number recorded in the job folder when it is free) and
    refresh known ones; returns the rows as stored.

    A version is its content (sha256) in its job, not its path: the same bytes of the same job under the
    same file name found at a new place (the runs folder moved, an attempt archived) keep their version;
    new bytes at an old place are a new version, and the old version keeps its sha256 and tags."""
    _lock_versions(conn)
    batch = {row["uri"]: row.get("sha256") for row in rows}
    stored = []
    for row in rows:
        existing = _same_place(conn, row) or _moved(conn, row, batch)
        if existing is not None:
            values = {**row, "version": existing["version"]}
            conn.execute(versions_t.update().where(versions_t.c.id == existing["id"]).values(values))
        else:
            version = row.get("version")
            if not version or _taken(conn, row["model_name"], version):
                version = _next_version(conn, row["model_name"])
            values = {**row, "version": version}
            conn.execute(versions_t.insert().values(values))
        stored.append(values)
    return stored


def _same_place(conn: Connection, row: dict) -> dict | None:
    """The version stored at this uri, when it is this content; other content there is detached first."""
    found = conn.execute(sa.select(versions_t).where(versions_t.c.uri == row["uri"])).mappings().first()
    if found is None:
        return None
    same_bytes = found["sha256"] == row.get("sha256") or None in (found["sha256"], row.get("sha256"))
    if same_bytes and found["model_name"] == row["model_name"]:
        return dict(found)
    if same_bytes:  # the same file under another model name: it becomes the version of that name
        conn.execute(versions_t.delete().where(versions_t.c.id == found["id"]))
        return None
    # Other bytes now stand where this version was: it stays (sha256, version and tags unchanged), its uri
    # marked as no longer holding it.
    conn.execute(versions_t.update().where(versions_t.c.id == found["id"]).values(
        uri=f"{found['uri']}#sha256={found['sha256']}",
        problem=f"its file was replaced by other content ({(row.get('sha256') or '?')[:12]}); these bytes are gone"))
    return None


def _moved(conn: Connection, row: dict, batch: dict[str, str | None]) -> dict | None:
    """The version of the same job, content and file name whose recorded place no longer holds it."""
    if not row.get("sha256"):
        return None
    query = sa.select(versions_t).where(versions_t.c.job_id == row["job_id"], versions_t.c.sha256 == row["sha256"],
                                        versions_t.c.model_name == row["model_name"]).order_by(versions_t.c.version)
    for found in conn.execute(query).mappings():
        if found["uri"] == row["uri"] or file_name(found["uri"]) != file_name(row["uri"]):
            continue
        elsewhere = batch.get(found["uri"], found["sha256"])
        if "#" in found["uri"] or not file_path(found["uri"]).is_file() or elsewhere != found["sha256"]:
            return dict(found)
    return None


def version_rows(folder: JobFolder, files: list[Path] | None = None) -> list[dict]:
    times = saved_times(folder)
    files = folder.outputs + attempt_outputs(folder) + imported_outputs(folder) if files is None else files
    # a log read back later (an adopted run) may not date its saves (t = 0): then the file's mtime dates it
    rows = [version_row(folder, f, _inspect(f), times.get(_saved_name(f)) or None) for f in files if f.is_file()]
    return sorted(rows, key=lambda r: (r["created_at"], r["uri"]))


def attempt_outputs(folder: JobFolder) -> list[Path]:
    """LoRA files of earlier attempts, archived under attempts/<n>/output/ (each stays a version)."""
    return sorted(folder.path.glob("attempts/*/output/*.safetensors"))


def imported_outputs(folder: JobFolder) -> list[Path]:
    """The LoRA files of a past run adopted by `registry import`: registered where they lie (registry.json
    `imported` lists them), never copied into the job folder."""
    files = (folder.meta.get("imported") or {}).get("files") or []
    return [Path(entry["path"]) for entry in files if entry.get("role") in ("lora", "lora_header")]


def _saved_name(file: Path) -> str:
    return file.name[:-len(".header.json")] if file.name.endswith(HEADER_COPY) else file.name


def _inspect(file: Path) -> dict:
    if file.name.endswith(HEADER_COPY):
        return header_copy_info(file)
    try:
        return inspect_output(file)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
        # a header with odd values (offsets that are not numbers, tensors without data_offsets): recorded
        # as a version with its problem, never a reason to stop
        return {"path": str(file), "bytes": file.stat().st_size, "sha256": None, "metadata": {},
                "error": f"unreadable safetensors header ({type(error).__name__}: {error})"}


def header_copy_info(file: Path) -> dict:
    """A LoRA kept as its header only (x.safetensors.header.json): a version with its metadata and its problem."""
    try:
        header = json.loads(file.read_text(encoding="utf-8"))
        metadata = header.get("__metadata__") if isinstance(header, dict) else None
    except (OSError, ValueError):
        metadata = None
    name = _saved_name(file)
    return {"path": str(file), "bytes": file.stat().st_size, "sha256": None,
            "metadata": key_metadata(metadata) if isinstance(metadata, dict) else {},
            "error": f"only the header of {name} is here ({file.name}): its weights are not, so it is no usable file"}


def file_path(uri: str) -> Path:
    """The local file a version's file:// uri names."""
    return Path(unquote(urlparse(uri).path))


def file_name(uri: str) -> str:
    return file_path(uri).name


def record_versions(folder: JobFolder, stored: list[dict]) -> None:
    """Write assigned version numbers back into registry.json so a rebuild keeps them."""
    recorded = folder.meta.get("models", {})
    for row in stored:
        key = model_key(folder.path, file_path(row["uri"]))
        entry = recorded.get(key, {})
        if (entry.get("version"), entry.get("sha256")) != (row["version"], row.get("sha256")):
            update_model_entry(folder.path, key, version=row["version"], sha256=row.get("sha256"))


def sync_versions(registry: Registry, folder: JobFolder, files: list[Path] | None = None) -> list[dict]:
    rows = version_rows(folder, files)
    if not rows:
        return []
    with registry.write() as conn:
        stored = insert_versions(conn, rows)
    record_versions(folder, stored)
    return stored


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name', 'name:v3', 'name:3' or 'name@v3'."""
    match = _REF.match(ref.strip())
    version = match.group("version")
    return match.group("name"), int(version) if version else None


def get_version(registry: Registry, ref: str) -> dict:
    name, version = parse_ref(ref)
    query = sa.select(versions_t).where(versions_t.c.model_name == name)
    query = query.where(versions_t.c.version == version) if version else query
    with registry.read() as conn:
        row = conn.execute(query.order_by(versions_t.c.version.desc())).mappings().first()
        if row is None and version is None and len(ref) >= 8:
            by_hash = (sa.select(versions_t).where(versions_t.c.sha256.startswith(ref.lower()))
                       .order_by(versions_t.c.created_at.desc()))  # the same bytes saved twice: newest
            row = conn.execute(by_hash).mappings().first()
    if row is None:
        raise ModelNotFound(f"No model version {ref!r}.",
                            hint="see `kohya-wrap models ls`; refer to a version as NAME:vN")
    return dict(row)


def list_versions(registry: Registry, name: str | None = None, tag: str | None = None) -> list[dict]:
    query = sa.select(versions_t).order_by(versions_t.c.model_name, versions_t.c.version)
    if name:
        query = query.where(versions_t.c.model_name == name)
    with registry.read() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [r for r in rows if tag is None or tag in (r["tags"] or [])]


def tag_version(registry: Registry, ref: str, add=(), remove=(), notes: str | None = None) -> dict:
    """Change a version's tags/notes in its job folder (the source of truth) and in the row."""
    row = get_version(registry, ref)
    tags = sorted((set(row["tags"] or []) | set(add)) - set(remove))
    values = {"tags": tags, **({"notes": notes} if notes is not None else {})}
    with registry.write() as conn:
        job = conn.execute(sa.select(schema.training_jobs.c.job_dir)
                           .where(schema.training_jobs.c.id == row["job_id"])).scalar()
        if job and Path(job).is_dir():
            update_model_entry(Path(job), model_key(Path(job), file_path(row["uri"])), **values)
        conn.execute(versions_t.update().where(versions_t.c.id == row["id"]).values(values))
    return {**row, **values}



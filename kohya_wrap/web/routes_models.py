"""Models: every LoRA version with its metadata, sha256, job and tags; download (registry-known files only)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from kohya_wrap.artifacts.jobinfo import job_facts
from kohya_wrap.artifacts.lora import LoraFileError, read_header
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.job.folder import JobNotFound
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.registry.models import ModelNotFound, file_path, get_version, list_versions
from kohya_wrap.web.auth import check_csrf, current_user
from kohya_wrap.web.jobdata import version_item
from kohya_wrap.web.pages import blocking, render

router = APIRouter(dependencies=[Depends(current_user), Depends(check_csrf)])
METADATA_PREFIXES = ("ss_", "modelspec.", "kohya_wrap")


def models_data(registry, name: str | None = None, tag: str | None = None) -> dict:
    return {"models": [version_item(v) for v in list_versions(registry, name or None, tag or None)],
            "name": name, "tag": tag}


def _metadata(path: Path) -> tuple[dict, str | None]:
    if not path.is_file():
        return {}, f"the file {path} is not on this machine"
    try:
        header, _ = read_header(path)
    except LoraFileError as error:
        return {}, error.message
    metadata = header.get("__metadata__") or {}
    return {k: v for k, v in sorted(metadata.items()) if k.startswith(METADATA_PREFIXES)}, None


def model_detail(registry, ref: str) -> dict:
    version = get_version(registry, ref)
    metadata, problem = _metadata(file_path(version["uri"]))
    try:
        job = get_job(registry, version["job_id"], check=False) if version.get("job_id") else None
    except JobNotFound:
        job = None
    job_dir = Path(job["job_dir"]) if job else None
    triggers = job_facts(job_dir).trigger_words if job_dir and job_dir.is_dir() else []
    return {"model": version_item(version), "metadata": metadata, "metadata_problem": problem,
            "trigger_words": triggers, "job": {"id": job["id"], "status": job["status"], "url": f"/jobs/{job['id']}"}
            if job else None}


def download_path(registry, ref: str) -> tuple[Path, str]:
    """The file of a registered version; nothing that the registry does not name is ever served."""
    version = get_version(registry, ref)
    path = file_path(version["uri"])
    if not path.is_file():
        raise ModelNotFound(f"The file of {version['model_name']}:v{version['version']} is gone ({path}).",
                            hint="`kohya-wrap registry rebuild` re-reads job folders")
    if not path.name.endswith(".safetensors"):
        raise KohyaWrapError(f"{path.name} is not a LoRA file (only its header was kept); nothing to download.")
    return path, path.name


@router.get("/models")
async def models_page(request: Request, name: str | None = None, tag: str | None = None):
    data = await blocking(models_data, request.app.state.registry, name, tag)
    return render(request, "models.html", data, title="Models")


@router.get("/api/models")
async def models_json(request: Request, name: str | None = None, tag: str | None = None):
    return await blocking(models_data, request.app.state.registry, name, tag)


@router.get("/models/{ref}")
async def model_page(request: Request, ref: str):
    data = await blocking(model_detail, request.app.state.registry, ref)
    return render(request, "model.html", data, title=data["model"]["ref"])


@router.get("/api/models/{ref}")
async def model_json(request: Request, ref: str):
    return await blocking(model_detail, request.app.state.registry, ref)


@router.get("/api/models/{ref}/download")
async def download(request: Request, ref: str):
    path, name = await blocking(download_path, request.app.state.registry, ref)
    return FileResponse(path, filename=name, media_type="application/octet-stream")

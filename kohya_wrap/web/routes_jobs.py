"""Jobs: the list (paged, filtered), one job (live progress, curves, files, diagnosis), its event stream, and
the buttons: stop, retry, mark lost / failed."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sse_starlette.sse import EventSourceResponse

from kohya_wrap.registry import schema
from kohya_wrap.registry.jobs import get_job
from kohya_wrap.runner.control import mark_job, retry_job, stop_job
from kohya_wrap.job.folder import EVENTS, JobNotFound
from kohya_wrap.web import jobdata
from kohya_wrap.web.auth import check_csrf, current_user, settings_of
from kohya_wrap.web.pages import blocking, render
from kohya_wrap.web.stream import event_stream, start_offset

router = APIRouter(dependencies=[Depends(current_user), Depends(check_csrf)])
FINISHED = (*schema.TERMINAL, schema.PREPARED)
STOP_GRACE_S = 30.0


def _registry(request: Request):
    return request.app.state.registry


def _status_filter(status: str | None) -> str | None:
    return status if status in jobdata.STATUSES else None


@router.get("/")
async def jobs_page(request: Request, status: str | None = None, page: int = 1, per_page: int = 50):
    data = await blocking(jobdata.jobs_page, _registry(request), status=_status_filter(status), page=page,
                          per_page=per_page)
    return render(request, "jobs.html", data, title="Jobs")


@router.get("/api/jobs")
async def jobs_json(request: Request, status: str | None = None, page: int = 1, per_page: int = 50):
    return await blocking(jobdata.jobs_page, _registry(request), status=_status_filter(status), page=page,
                          per_page=per_page)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str):
    data = await blocking(jobdata.job_detail, _registry(request), job_id)
    return render(request, "job.html", data, title=data["job"]["name"] or job_id)


@router.get("/api/jobs/{job_id}")
async def job_json(request: Request, job_id: str):
    return await blocking(jobdata.job_detail, _registry(request), job_id)


@router.get("/jobs/{job_id}/files/{relative:path}")
async def job_file(request: Request, job_id: str, relative: str):
    path = await blocking(jobdata.sample_path, _registry(request), job_id, relative)
    if path is None:
        raise JobNotFound(f"Job {job_id} has no sample image {relative!r}.")
    return FileResponse(path)


@router.get("/api/jobs/{job_id}/events")
async def job_events(request: Request, job_id: str, offset: str | None = None):
    """Every line of events.jsonl from the start (or from Last-Event-ID / ?offset=), then live."""
    registry = _registry(request)
    row = await blocking(get_job, registry, job_id)

    async def finished() -> str | None:
        status = (await blocking(get_job, registry, row["id"]))["status"]
        return status if status in FINISHED else None

    stream = event_stream(Path(row["job_dir"]) / EVENTS, start_offset(request.headers.get("last-event-id"), offset),
                          finished, poll_s=settings_of(request).poll_s)
    return EventSourceResponse(stream, ping=15, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/api/jobs/{job_id}/stop")
async def stop(request: Request, job_id: str):
    return {"job": jobdata.list_item(await blocking(stop_job, _registry(request), job_id, grace_s=STOP_GRACE_S))}


@router.post("/api/jobs/{job_id}/retry")
async def retry(request: Request, job_id: str):
    return {"job": jobdata.list_item(await blocking(retry_job, _registry(request), job_id))}


@router.post("/api/jobs/{job_id}/mark-lost")
async def mark_lost(request: Request, job_id: str):
    return {"job": jobdata.list_item(await blocking(mark_job, _registry(request), job_id, schema.LOST))}


@router.post("/api/jobs/{job_id}/mark-failed")
async def mark_failed(request: Request, job_id: str):
    return {"job": jobdata.list_item(await blocking(mark_job, _registry(request), job_id, "failed"))}

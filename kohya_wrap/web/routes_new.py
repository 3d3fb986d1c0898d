"""New job: presets (values and comments), validation with every problem at once, preview, queue (sweeps too)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.web import newjob
from kohya_wrap.web.auth import FORM_TYPES, check_csrf, current_user
from kohya_wrap.web.datasets import list_datasets
from kohya_wrap.web.jobdata import list_item
from kohya_wrap.web.pages import blocking, render

router = APIRouter(dependencies=[Depends(current_user), Depends(check_csrf)])
LIST_FIELDS = ("overrides", "sweeps")


async def body_of(request: Request) -> dict:
    """A JSON object, or a form (overrides and sweeps one per line or repeated fields)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind in FORM_TYPES:
        form = await request.form()
        data = {key: form.get(key) for key in form.keys() if key not in LIST_FIELDS}
        for key in LIST_FIELDS:
            data[key] = [line for value in form.getlist(key) for line in str(value).splitlines()]
        return data
    try:
        data = await request.json()
    except ValueError:
        raise KohyaWrapError("The body is not JSON.", hint="send a JSON object or a form") from None
    if not isinstance(data, dict):
        raise KohyaWrapError("The body must be a JSON object.")
    return data


def _new_page_data() -> dict:
    return {"presets": newjob.presets(), "datasets": list_datasets()}


@router.get("/new")
async def new_page(request: Request, preset: str | None = None):
    data = await blocking(_new_page_data)
    data["preset"] = await blocking(newjob.preset, preset) if preset else None
    return render(request, "new.html", data, title="New job")


@router.get("/api/presets")
async def presets_json():
    return await blocking(newjob.presets)


@router.get("/api/presets/{name}")
async def preset_json(name: str):
    return await blocking(newjob.preset, name)


@router.post("/api/jobs/validate")
async def validate(request: Request):
    job = newjob.JobRequest.from_dict(await body_of(request))
    return await blocking(newjob.validate, job)


@router.post("/api/jobs/preview")
async def preview(request: Request):
    job = newjob.JobRequest.from_dict(await body_of(request))
    return await blocking(newjob.preview, request.app.state.registry, job)


@router.post("/api/jobs")
async def queue(request: Request):
    job = newjob.JobRequest.from_dict(await body_of(request))
    rows = await blocking(newjob.queue, request.app.state.registry, job)
    return JSONResponse({"jobs": [list_item(row) for row in rows]}, status_code=201)

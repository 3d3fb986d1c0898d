"""Datasets: upload (a zip, or image + caption files), the list, one dataset with its check, images and
captions, a caption edit, and an auto-captioning run."""

from __future__ import annotations

import shutil

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.web import captioning, datasets
from kohya_wrap.web.auth import check_csrf, current_user, settings_of
from kohya_wrap.web.pages import blocking, render
from kohya_wrap.web.routes_new import body_of

router = APIRouter(dependencies=[Depends(current_user), Depends(check_csrf)])


def _repeats(value) -> int:
    try:
        return int(value or 1)
    except (TypeError, ValueError):
        raise KohyaWrapError(f"repeats must be a whole number, not {value!r}.") from None


def receive_upload(files: list, fields: dict, max_bytes: int, max_files: int) -> dict:
    """Stage every uploaded file (zips unpacked), check them all, then make the dataset."""
    staging = datasets.new_staging(max_bytes, max_files)
    try:
        for upload in files:
            label = upload.filename or "upload"
            if label.lower().endswith(".zip"):
                staging.add_zip(upload.file, label)
            else:
                upload.file.seek(0)
                staging.add(label, upload.file.read(max_bytes + 1))
    except BaseException:
        shutil.rmtree(staging.root, ignore_errors=True)
        raise
    made = datasets.finish_upload(staging, fields.get("name") or "", token=fields.get("token"),
                                  class_tokens=fields.get("class_tokens"), repeats=_repeats(fields.get("repeats")))
    made["check"] = datasets.check(datasets.dataset_path(made["name"]))
    return made


@router.get("/datasets")
async def datasets_page(request: Request):
    return render(request, "datasets.html", {"datasets": await blocking(datasets.list_datasets)}, title="Datasets")


@router.get("/api/datasets")
async def datasets_json():
    return {"datasets": await blocking(datasets.list_datasets)}


@router.post("/api/datasets")
async def upload(request: Request):
    settings = settings_of(request)
    form = await request.form(max_files=settings.max_files, max_fields=100)
    files = [value for value in form.getlist("files") if hasattr(value, "file")]
    if not files:
        raise KohyaWrapError("No files in the upload.", hint="send them as multipart form field 'files'")
    fields = {key: form.get(key) for key in ("name", "token", "class_tokens", "repeats")}
    made = await blocking(receive_upload, files, fields, settings.max_upload_bytes, settings.max_files)
    return JSONResponse(made, status_code=201)


@router.get("/datasets/{name}")
async def dataset_page(request: Request, name: str):
    data = await blocking(datasets.dataset_detail, name)
    return render(request, "dataset.html", data, title=name)


@router.get("/api/datasets/{name}")
async def dataset_json(name: str):
    return await blocking(datasets.dataset_detail, name)


@router.get("/datasets/{name}/images/{relative:path}")
async def dataset_image(name: str, relative: str):
    path = await blocking(datasets.image_file, name, relative)
    if path is None:
        raise datasets.DatasetNotFound(f"No image {relative!r} in dataset {name!r}.")
    return FileResponse(path)


@router.post("/api/datasets/{name}/captions")
async def edit_caption(request: Request, name: str):
    body = await body_of(request)
    image, caption = body.get("image"), body.get("caption")
    if not isinstance(image, str) or not isinstance(caption, str):
        raise KohyaWrapError("Send the image's path in the dataset and its new caption.",
                             hint='e.g. {"image": "img/1_ohwx/a.png", "caption": "ohwx, a cat"}')
    return await blocking(datasets.edit_caption, name, image, caption)


@router.post("/api/datasets/{name}/captions/auto")
async def start_captions(request: Request, name: str):
    """Start `data captions auto` on this dataset (same captioners, modes and writes as the CLI)."""
    body = await body_of(request)
    return JSONResponse(await blocking(captioning.start, name, body), status_code=202)


@router.get("/api/datasets/{name}/captions/auto")
async def captions_status(name: str):
    return await blocking(captioning.status_of, name)

"""Datasets in the dashboard's datasets folder: make one from an upload, list them, check one, edit a caption."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from kohya_wrap.dataset import captions as caption_tools
from kohya_wrap.dataset.check import check_dataset
from kohya_wrap.dataset.factcache import cache_path_for
from kohya_wrap.dataset.findings import count_by_severity, summarise
from kohya_wrap.dataset.prepare import apply_prepare, plan_prepare
from kohya_wrap.dataset.rules import parse_folder_name
from kohya_wrap.dataset.scan import scan_dataset
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.web.settings import datasets_dir
from kohya_wrap.web.uploads import Staging, UploadRefused, dataset_name

CAPTION_EXTENSION = ".txt"
CHECK_DEFAULTS = {"resolution": (1024, 1024), "min_bucket_reso": 256, "max_bucket_reso": 2048, "token_limit": 225}


class DatasetNotFound(KohyaWrapError):
    """No dataset of that name in the datasets folder."""


def new_staging(max_bytes: int, max_files: int) -> Staging:
    root = datasets_dir() / ".uploads" / secrets.token_hex(8)
    root.mkdir(parents=True)
    return Staging(root, max_bytes, max_files)


def _unwrapped(root: Path) -> Path:
    """A zip of one folder holding everything: that folder is the dataset (a repeat folder is not unwrapped)."""
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not parse_folder_name(entries[0].name)[0]:
        return _unwrapped(entries[0])
    return root


def _has_repeat_folders(root: Path) -> bool:
    return any(p.is_dir() and parse_folder_name(p.name)[0] for p in root.iterdir())


def finish_upload(staging: Staging, name: str, *, token: str | None, class_tokens: str | None,
                  repeats: int) -> dict:
    """Turn a checked upload into datasets/<name>: folder-repeat layouts as uploaded, flat files through
    `data prepare` (a prepared copy, whose captions the dashboard may edit)."""
    target, ours = datasets_dir() / dataset_name(name), False
    try:
        staging.refuse_if_problems()
        if target.exists():
            raise UploadRefused([f"a dataset named {name!r} exists already"], hint="choose another name")
        ours = True  # from here on, whatever is at target was written by this upload
        source = _unwrapped(staging.root)
        if _has_repeat_folders(source):
            shutil.move(str(source), str(target))
            how, findings = "as uploaded (folder-repeat layout)", []
        else:
            plan = plan_prepare([source], target, token=token or None, class_tokens=class_tokens or None,
                                repeats=repeats)
            apply_prepare(plan, workers=1)
            how, findings = "prepared (kohya-wrap data prepare)", [f.to_dict() for f in plan.findings]
    except BaseException:
        if ours:
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging.root, ignore_errors=True)
    return {"name": target.name, "path": str(target), "layout": how, "files": len(staging.written),
            "skipped": staging.skipped, "prepare_findings": findings}


def dataset_path(name: str) -> Path:
    path = datasets_dir() / dataset_name(name)
    if not path.is_dir():
        raise DatasetNotFound(f"No dataset {name!r} in {datasets_dir()}.", hint="upload one on the Datasets page")
    return path


def list_datasets() -> list[dict]:
    root = datasets_dir()
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        if path.is_dir() and not path.name.startswith("."):
            scan = scan_dataset(path, caption_extension=CAPTION_EXTENSION)
            found.append({"name": path.name, "path": str(path), "prepared": caption_tools.is_prepared_copy(path),
                          "images": sum(len(s.images) for s in scan.subsets),
                          "url": f"/datasets/{path.name}"})
    return found


def check(path: Path) -> dict:
    """`data check` of the dataset (the same checks, cached the same way), summarised as the CLI does."""
    scan = scan_dataset(path, caption_extension=CAPTION_EXTENSION)
    findings = scan.findings + check_dataset(scan.subsets, resolution=CHECK_DEFAULTS["resolution"],
                                             min_bucket_reso=CHECK_DEFAULTS["min_bucket_reso"],
                                             max_bucket_reso=CHECK_DEFAULTS["max_bucket_reso"],
                                             caption_extension=CAPTION_EXTENSION,
                                             token_limit=CHECK_DEFAULTS["token_limit"],
                                             cache_path=cache_path_for(path), workers=1)
    return {"counts": count_by_severity(findings), "summary": summarise(findings),
            "subsets": [subset.to_dict() for subset in scan.subsets], "settings": {**CHECK_DEFAULTS}}


def images(path: Path) -> list[dict]:
    """Every image sd-scripts would train from, with the caption it would read."""
    return [{"image": str(target.image.relative_to(path)), "class_tokens": target.class_tokens,
             "caption": caption_tools.first_line(target),
             "caption_file": str(target.caption.relative_to(path)) if target.caption else None}
            for target in caption_tools.targets(path, CAPTION_EXTENSION)]


def dataset_detail(name: str, with_check: bool = True) -> dict:
    path = dataset_path(name)
    return {"name": name, "path": str(path), "prepared": caption_tools.is_prepared_copy(path),
            "images": images(path), "check": check(path) if with_check else None}


def image_file(name: str, relative: str) -> Path | None:
    """An image of the dataset, only when the scan lists it (nothing else under the folder is served)."""
    path = dataset_path(name)
    for target in caption_tools.targets(path, CAPTION_EXTENSION):
        if str(target.image.relative_to(path)) == relative:
            return target.image
    return None


def edit_caption(name: str, relative: str, text: str) -> dict:
    """Set an image's caption (its first line) atomically; only in a prepared copy (apply_edits refuses others)."""
    path = dataset_path(name)
    text = " ".join(text.split())  # one line: sd-scripts reads only the first
    target = next((t for t in caption_tools.targets(path, CAPTION_EXTENSION)
                   if str(t.image.relative_to(path)) == relative), None)
    if target is None:
        raise DatasetNotFound(f"No image {relative!r} in dataset {name!r}.")
    if not caption_tools.is_prepared_copy(path):
        raise KohyaWrapError(f"Dataset {name!r} was uploaded in its own layout, so its captions are left as they are.",
                             hint="upload the images as flat files (they are prepared into a copy whose captions "
                                  "can be edited), or edit the captions before uploading")
    edit = caption_tools.plan_first_line(target, text, CAPTION_EXTENSION)
    if edit is not None:
        caption_tools.apply_edits([edit], path)
    return {"image": relative, "caption": text, "changed": edit is not None}

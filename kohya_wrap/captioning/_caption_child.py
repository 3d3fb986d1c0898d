"""Child process, run in the backend's (or a configured) Python: caption images, one JSON line per event.

Usage: python -c "<this file's source>" CAPTIONING_PACKAGE_DIR  < job.json
The job: {"captioner", "model_dir", "files": [...], "batch_size", "options": {...}, "download": null | {...}}.
Lines written to the process's stdout (whatever libraries print goes to stderr instead):
  {"type": "started", "pid", "captioner", "total", "python", "versions"}
  {"type": "phase", "phase": "download" | "load"}          {"type": "loaded", "seconds", ...facts}
  {"type": "caption", "image", "text", "tags"}  or  {"type": "caption", "image", "error"}
  {"type": "progress", "done", "total", "images_per_s", "eta_s", "elapsed_s"}
  {"type": "error", "kind", "message", "hint"}             {"type": "finished", "done", "seconds"}
This is the one runner every captioner shares: batching, per-image read errors, progress and ETA.
Never imported by kohya-wrap itself (the captioners import torch, transformers or onnxruntime).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path

PACKAGE = "kw_captioning"
DISTS = ("torch", "transformers", "onnxruntime", "huggingface-hub", "pillow", "numpy")


def event_stream():
    """Our own copy of stdout for events; fd 1 then points at stderr so stray prints cannot corrupt them."""
    private = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stream = os.fdopen(private, "w", encoding="utf-8", buffering=1)

    def emit(event: dict) -> None:
        stream.write(json.dumps({"t": round(time.time(), 3), **event}, ensure_ascii=False) + "\n")
        stream.flush()
    return emit


def load_package(folder: Path):
    """The captioning package by its path, under a private name, so its relative imports work anywhere."""
    spec = importlib.util.spec_from_file_location(PACKAGE, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return package


def versions() -> dict:
    found = {}
    for dist in DISTS:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found


def download(spec: dict, folder: Path, errors) -> None:
    """Only when the user passed --allow-download: fetch the repository's files into the model folder."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as error:
        raise errors.CaptionerError("missing_package", f"--allow-download needs huggingface_hub ({error}).",
                                    f"{sys.executable} -m pip install huggingface_hub") from None
    try:
        snapshot_download(repo_id=spec["repo"], local_dir=str(folder), allow_patterns=spec.get("files") or None)
    except (OSError, ValueError) as error:  # hub errors derive from these (HTTP, offline, missing repo)
        raise errors.CaptionerError("download_failed", f"Downloading {spec['repo']} into {folder} failed: "
                                    f"{type(error).__name__}: {str(error)[:300]}",
                                    "check the network and the repository name, or download it yourself") from None


def open_image(path: str):
    """(image, None) or (None, why it cannot be read)."""
    from PIL import Image

    try:
        image = Image.open(path)
        image.load()
        return image, None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return None, f"{type(error).__name__}: {error}"


def caption_all(captioner, files: list[str], batch_size: int, emit) -> int:
    started, done = time.monotonic(), 0
    for start in range(0, len(files), batch_size):
        batch = files[start:start + batch_size]
        opened = [(path, *open_image(path)) for path in batch]
        for path, _, error in opened:
            if error:
                emit({"type": "caption", "image": path, "error": error})
        good = [(path, image) for path, image, error in opened if not error]
        if good:
            for (path, _), result in zip(good, captioner.caption([image for _, image in good])):
                emit({"type": "caption", "image": path, **result.to_dict()})
        done += len(batch)
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed > 0 else 0.0
        emit({"type": "progress", "done": done, "total": len(files), "images_per_s": round(rate, 3),
              "eta_s": round((len(files) - done) / rate, 1) if rate else None, "elapsed_s": round(elapsed, 2)})
    return done


def run(job: dict, emit) -> int:
    base = importlib.import_module(f"{PACKAGE}.base")
    name, folder = job["captioner"], Path(job["model_dir"])
    emit({"type": "started", "pid": os.getpid(), "captioner": name, "total": len(job["files"]),
          "python": sys.executable, "versions": versions()})
    if job.get("download"):
        emit({"type": "phase", "phase": "download", "repo": job["download"]["repo"]})
        download(job["download"], folder, base)
    emit({"type": "phase", "phase": "load"})
    loaded_at = time.monotonic()
    module_name, class_name = base.REGISTRY[name]
    captioner_class = getattr(importlib.import_module(f"{PACKAGE}.{module_name}"), class_name)
    captioner = captioner_class.load(folder, job.get("options") or {})
    emit({"type": "loaded", "seconds": round(time.monotonic() - loaded_at, 2), **captioner.describe()})
    done = caption_all(captioner, job["files"], max(1, int(job.get("batch_size") or 1)), emit)
    emit({"type": "finished", "done": done, "seconds": round(time.monotonic() - loaded_at, 2)})
    return 0


def main() -> int:
    emit = event_stream()
    load_package(Path(sys.argv[1]))
    base = importlib.import_module(f"{PACKAGE}.base")
    try:
        return run(json.loads(sys.stdin.read()), emit)
    except base.CaptionerError as error:
        emit(error.to_event())
        return 2
    except Exception as error:  # noqa: BLE001 - anything else becomes an error event with its traceback
        emit({"type": "error", "kind": "captioner_failed", "message": f"{type(error).__name__}: {error}",
              "hint": None, "traceback": traceback.format_exc()[-4000:]})
        return 1


if __name__ == "__main__":
    sys.exit(main())

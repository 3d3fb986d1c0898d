"""Auto-captioning runs started from a dataset page: the one captioning use case (captioning.run) on a thread,
its progress events kept for the page to poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.web.datasets import dataset_path

CAPTIONERS = ("wd14", "blip", "blip2", "florence2")
MODES = ("fill", "replace", "append")
_RUNS: dict[str, dict] = {}
_LOCK = threading.Lock()


def _request(path: Path, body: dict):
    from kohya_wrap.captioning.compose import Style
    from kohya_wrap.captioning.run import AutoRequest

    captioner, mode = body.get("captioner"), body.get("mode", "fill")
    problems = []
    if captioner not in CAPTIONERS:
        problems.append(f"captioner must be one of {', '.join(CAPTIONERS)}")
    if mode not in MODES:
        problems.append(f"mode must be one of {', '.join(MODES)}")
    if not isinstance(body.get("model_dir"), str) or not body["model_dir"]:
        problems.append("model_dir: the local folder of the captioning model (a path on the server)")
    texts = {key: body.get(key) or "" for key in ("prefix", "suffix", "trigger")}
    if any(not isinstance(value, str) for value in texts.values()):
        problems.append("prefix, suffix and trigger are text")
    batch = body.get("batch_size", 1)
    if not isinstance(batch, int) or not 1 <= batch <= 64:
        problems.append("batch_size: a whole number from 1 to 64")
    if problems:
        raise KohyaWrapError("Cannot start captioning: " + "; ".join(problems) + ".")
    style = Style(mode=mode, prefix=texts["prefix"], suffix=texts["suffix"], trigger=texts["trigger"] or None)
    return AutoRequest(root=path, captioner=captioner, model_dir=Path(body["model_dir"]).expanduser(), style=style,
                       batch_size=batch, dry_run=bool(body.get("dry_run")))


def start(name: str, body: dict) -> dict:
    """Start captioning dataset NAME (one run per dataset at a time); returns its status."""
    from kohya_wrap.captioning.run import run_auto_captions

    path = dataset_path(name)
    request = _request(path, body)
    with _LOCK:  # runs are kept by the dataset's folder, one at a time per folder
        if _RUNS.get(str(path), {}).get("state") == "running":
            raise KohyaWrapError(f"Dataset {name!r} is being captioned already.", hint="wait for it to finish")
        status = {"state": "running", "started": time.time(), "progress": None, "summary": None, "error": None}
        _RUNS[str(path)] = status

    def on_event(event: dict) -> None:
        if event.get("type") == "progress":
            status["progress"] = {key: event.get(key) for key in ("done", "total", "images_per_s", "eta_s")}

    def work() -> None:
        try:
            status["summary"] = run_auto_captions(request, on_event)
            status["state"] = "finished"
        except KohyaWrapError as error:
            status.update(state="failed", error=error.render())

    threading.Thread(target=work, name=f"captions-{name}", daemon=True).start()
    return status_of(name)


def status_of(name: str) -> dict:
    path = dataset_path(name)  # an unknown dataset is a clear 404, not an empty status
    return dict(_RUNS.get(str(path)) or {"state": "idle"})

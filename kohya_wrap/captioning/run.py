"""`data captions auto`: choose the images, run the captioner child, write the captions through the caption
edits (dry run, prepared copies only unless in place, backup, atomic), and summarise."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.captioning import child as child_mod
from kohya_wrap.captioning.compose import MODES, Style
from kohya_wrap.captioning.journal import Journal
from kohya_wrap.captioning.layouts import LAYOUTS, default_folder
from kohya_wrap.captioning.summary import Tally
from kohya_wrap.dataset import captions
from kohya_wrap.errors import DatasetError, Interrupted, KohyaWrapError, RunFailed

TAGGER_OPTIONS = ("threshold", "character_threshold")
TEXT_OPTIONS = ("max_length", "min_length", "prompt", "num_beams")
USER_ERRORS = ("missing_package", "malformed_model", "unsupported", "download_failed")


class CaptionerError(KohyaWrapError):
    """The captioner cannot run: no or a broken model folder, a missing package, an unsupported version."""


@dataclass
class AutoRequest:
    root: Path
    captioner: str
    model_dir: Path | None = None
    style: Style = field(default_factory=Style)
    batch_size: int = 1
    options: dict = field(default_factory=dict)  # threshold, character_threshold, max_length, prompt, num_beams, device
    caption_extension: str = ".txt"
    dry_run: bool = False
    in_place: bool = False
    backup_dir: Path | None = None
    python: str | None = None
    allow_download: bool = False
    repo: str | None = None
    token_limit: int = 75


def journal_options(request: AutoRequest) -> dict:
    """The options that change a captioner's output (they key the resume journal)."""
    names = TAGGER_OPTIONS if request.captioner == "wd14" else TEXT_OPTIONS
    return {name: request.options.get(name) for name in names}


def resolve_model(request: AutoRequest) -> tuple[Path, dict | None]:
    """(model folder, download spec or None); a missing or incomplete folder is an error unless downloads are allowed."""
    layout = LAYOUTS[request.captioner]
    folder = Path(request.model_dir or default_folder(paths.home(), request.captioner)).expanduser().absolute()
    missing = layout.missing(folder)
    if not missing:
        return folder, None
    if request.allow_download:
        return folder, {"repo": request.repo or layout.repo, "files": list(layout.download_files)}
    if request.repo:
        layout = replace(layout, repo=request.repo)
    where = (f"No {request.captioner} model folder at {folder}." if not folder.is_dir() else
             f"{folder} is not a complete {request.captioner} model folder: {', '.join(missing)} missing.")
    raise CaptionerError(f"{where} The {request.captioner} captioner loads {layout.what} from a local folder "
                         f"holding {layout.expected_text()}. Nothing is downloaded unless you pass --allow-download.",
                         hint=f"`{layout.download_command(folder)}`, then rerun (--model-dir {folder}); "
                              "or rerun with --allow-download")


def preset_token_limit(preset: str | None) -> int:
    """max_token_length from a preset's tables; sd-scripts' default 75 when none is set."""
    if not preset:
        return 75
    from kohya_wrap.presets.catalog import find_preset, read_preset

    for table in read_preset(find_preset(preset)).values():
        if isinstance(table, dict) and table.get("max_token_length"):
            return int(table["max_token_length"])
    return 75


def check_request(request: AutoRequest) -> None:
    if request.captioner not in LAYOUTS:
        raise DatasetError(f"Unknown captioner {request.captioner!r}.", hint=f"use one of {', '.join(LAYOUTS)}")
    if request.style.mode not in MODES:
        raise DatasetError(f"Unknown mode {request.style.mode!r}.", hint=f"use one of {', '.join(MODES)}")
    if request.batch_size < 1:
        raise DatasetError("--batch-size must be at least 1.")
    if not (request.dry_run or request.in_place or captions.is_prepared_copy(request.root)):
        raise DatasetError(f"{request.root} is not a prepared copy: source folders get captions only with "
                           "--in-place (a backup zip is written first). Nothing was captioned.",
                           hint=f"Run `kohya-wrap data prepare {request.root} --out DEST ...` and caption DEST, "
                                "or pass --in-place, or look first with --dry-run.")


def run_auto_captions(request: AutoRequest, on_event=None) -> dict:
    """Caption the chosen images, write (or, dry run, only plan) the captions, return the summary."""
    on_event = on_event or (lambda event: None)
    check_request(request)
    folder, download = resolve_model(request)
    items = captions.targets(request.root, request.caption_extension)
    chosen = [t for t in items if request.style.mode != "fill" or t.caption is None]
    journal = Journal.for_run(request.root, request.captioner, folder, journal_options(request))
    journaled = journal.load()
    results = {str(t.image): journaled[str(t.image)] for t in chosen if str(t.image) in journaled}
    tally = Tally(images=len(items), skipped=len(items) - len(chosen), reused=len(results), started=time.monotonic(),
                  token_limit=request.token_limit)
    todo = [str(t.image) for t in chosen if str(t.image) not in results]
    on_event({"type": "plan", "images": len(items), "skipped": tally.skipped, "reused": tally.reused,
              "to_caption": len(todo), "model_dir": str(folder)})
    python = child_mod.caption_python(request.python)
    outcome, stopped = None, None
    if todo:
        try:
            collect = _Collector(results, tally, None if request.dry_run else journal, on_event)
            outcome = _caption(request, python, folder, download, todo, collect)
        except KeyboardInterrupt:
            stopped = "interrupted"
    summary = _write(request, chosen, results, tally)
    summary.update(python=python, model_dir=str(folder), captioner=request.captioner)
    _raise_if_incomplete(outcome, stopped, summary, len(todo))
    if not request.dry_run:
        journal.remove()
    return summary


@dataclass
class _Collector:
    """Takes the child's events: results into the run's table and the journal, counts into the tally."""

    results: dict
    tally: Tally
    journal: Journal | None  # None: dry run, nothing is written anywhere
    on_event: object

    def __call__(self, event: dict) -> None:
        if event.get("type") == "caption" and event.get("error"):
            self.tally.failed.append({"image": event["image"], "error": event["error"]})
        elif event.get("type") == "caption":
            result = {"text": event.get("text", ""), "tags": event.get("tags") or []}
            self.results[event["image"]] = result
            self.tally.captioned += 1
            if self.journal is not None:
                self.journal.append(event["image"], result)
        elif event.get("type") == "progress":
            self.tally.images_per_s = event.get("images_per_s")
        self.on_event(event)


def _caption(request: AutoRequest, python: str, folder: Path, download, todo: list[str], collect: _Collector):
    job = {"captioner": request.captioner, "model_dir": str(folder), "files": todo, "batch_size": request.batch_size,
           "options": request.options, "download": download}
    log = paths.cache_dir() / "captioning" / f"child-{request.captioner}.log"
    return child_mod.run_child(python, job, log, collect)


def _write(request: AutoRequest, chosen, results: dict, tally: Tally) -> dict:
    edits = []
    for target in chosen:
        result = results.get(str(target.image))
        if result is None:
            continue
        text = tally.add(target, result, captions.first_line(target), request.style)
        edit = captions.plan_first_line(target, text, request.caption_extension) if text else None
        if edit is not None:
            edits.append(edit)
    backup = None
    if not request.dry_run and edits:
        backup = captions.apply_edits(edits, request.root, in_place=request.in_place, backup_dir=request.backup_dir)
    return tally.summary(request, edits, backup)


def _raise_if_incomplete(outcome, stopped: str | None, summary: dict, planned: int) -> None:
    if outcome is None and stopped is None:
        return
    done = summary["captioned"] + len(summary["failed"])
    kept = "planned (dry run)" if summary["dry_run"] else "written"
    rest = f"{summary['captioned']} new captions were {kept}; rerun the same command to caption the other " \
           f"{planned - done} images."
    if stopped:
        raise Interrupted(f"Interrupted after {done} of {planned} images. {rest}")
    if outcome.ok:
        return
    error = outcome.error or {}
    if error.get("kind") in USER_ERRORS:
        raise CaptionerError(error.get("message") or "The captioner cannot run.", hint=error.get("hint"))
    why = error.get("message") or f"the captioning process ended with exit code {outcome.returncode}"
    tail = " | ".join(outcome.stderr_tail[-3:])
    raise RunFailed(f"Captioning stopped after {done} of {planned} images: {why}. {rest}",
                    hint=f"the child's output is in {outcome.log}" + (f" ({tail})" if tail else ""))

"""The event vocabulary (types and their fields) and events.jsonl reading and writing: the wire format."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from kohya_wrap.errors import KohyaWrapError

# The one declaration of the event vocabulary (DESIGN.md: extend, don't rename): each type and every field
# it may carry. The parser, the runner and the guards write only these; every consumer reads only these
# (tests/job/test_events_vocabulary.py holds both sides to it).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "started": ("pid", "pgid", "host", "argv", "cwd", "resume", "step_offset"),
    "phase": ("name",),
    "config": ("images", "val_images", "reg_images", "batches_per_epoch", "epochs", "batch_size",
               "grad_accum", "steps"),
    "resumed": ("state", "epoch", "step", "step_offset"),
    "epoch": ("epoch", "total"),
    "step": ("step", "total", "loss", "avr_loss", "lr", "it_s", "s_per_it", "eta_s", "elapsed_s", "nonfinite"),
    "saved": ("path", "what", "step", "epoch", "final", "logged_step"),
    "sample": ("step", "index", "prompt", "width", "height", "sample_steps", "seed", "path"),
    "warning": ("kind", "message", "source"),
    "error": ("kind", "message", "hint", "exception", "path", "frame", "tail"),
    "limit": ("cause", "message", "cost_usd", "projected_usd", "max_cost_usd", "hourly_usd", "elapsed_s",
              "projected_s", "max_s"),
    "exited": ("code", "signal", "cause", "status", "stop_signals"),
}
# Passed to the guards on the clock between outputs; never written to events.jsonl.
INTERNAL_FIELDS: dict[str, tuple[str, ...]] = {"tick": ()}
EVENT_TYPES = tuple(EVENT_FIELDS)

ERROR_KINDS = ("oom", "nan", "no_data", "bad_dataset_config", "bad_arg", "missing_model", "missing_file",
               "backend_import", "interrupted", "killed", "unknown", "sampling_failed", "corrupt_image", "bad_dataset",
               "bad_network_args", "bad_model", "disk_full", "permission_denied", "gpu_setup", "native_crash",
               "trainer_error")


class EventsFileError(KohyaWrapError):
    """events.jsonl holds a line that is not an event."""


@dataclass
class Event:
    """One thing that happened in a run: `type`, time `t` (unix seconds, 0 when unknown) and its fields."""

    type: str
    t: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key == "type":
            return self.type
        if key == "t":
            return self.t
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of events.jsonl: type, t, then the fields that have a value."""
        return {"type": self.type, "t": self.t, **{k: v for k, v in self.data.items() if v is not None}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)


def make_event(type: str, t: float | None = None, **fields: Any) -> Event:
    """An event with the fields that are not None; non-finite floats are refused (JSON cannot hold them)."""
    data = {k: v for k, v in fields.items() if v is not None}
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"event field {key!r} is {value}; record non-finite values as text")
    return Event(type, float(t or 0.0), data)


def event_from_dict(d: dict[str, Any]) -> Event:
    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise ValueError(f"not an event (needs a string 'type'): {d!r}")
    fields = {k: v for k, v in d.items() if k not in ("type", "t")}
    return Event(d["type"], float(d.get("t") or 0.0), fields)


def as_event(item: Event | dict[str, Any]) -> Event:
    return item if isinstance(item, Event) else event_from_dict(item)


def write_events_jsonl(path: Path, events: Iterable[Event | dict[str, Any]], *, append: bool = True) -> int:
    """Append (or write) events as JSON lines and flush; returns how many were written."""
    lines = [as_event(e).to_json() + "\n" for e in events]
    with Path(path).open("a" if append else "w", encoding="utf-8") as handle:
        handle.writelines(lines)
        handle.flush()
    return len(lines)


def read_events_jsonl(path: Path) -> list[Event]:
    """Every event of an events.jsonl. A last line still being written (no newline yet) is left for later."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]
    events = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            events.append(event_from_dict(json.loads(line)))
        except ValueError as error:
            raise EventsFileError(f"{path}:{number}: not an event line ({error})",
                                  hint="events.jsonl is written by kohya-wrap; re-create it with "
                                       "`kohya-wrap logs parse <job>/train.log --json`") from None
    if tail.strip():
        try:
            events.append(event_from_dict(json.loads(tail)))
        except ValueError:
            pass  # a line the writer has not finished yet; the next read sees it whole
    return events

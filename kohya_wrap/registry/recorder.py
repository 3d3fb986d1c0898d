"""JobRecorder: keeps a job's row current while it runs (throttled writes, heartbeat) and final after."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from kohya_wrap import paths
from kohya_wrap.job.cost import cost_between, job_rate
from kohya_wrap.registry import liveness, schema
from kohya_wrap.registry.db import Registry
from kohya_wrap.registry.schema import RegistryError
from kohya_wrap.job.folder import read as read_job_folder
from kohya_wrap.registry.jobs import register_folder, update_job
from kohya_wrap.job.meta import update_meta
from kohya_wrap.registry.models import sync_versions

log = logging.getLogger(__name__)
_URGENT = {"started", "config", "saved", "limit", "error", "exited"}


def resolve_job_dir(registry: Registry, job: str | Path) -> Path:
    """A job folder from a path, or from a job id via its row (else the default runs folder)."""
    if isinstance(job, Path) or os.sep in str(job):
        return Path(job).resolve()
    with registry.read() as conn:
        found = conn.execute(sa.select(schema.training_jobs.c.job_dir)
                             .where(schema.training_jobs.c.id == str(job))).scalar()
    return Path(found) if found else paths.runs_dir() / str(job)


class JobRecorder:
    """Feed it every run event (`on_event`), then `finish(outcome)`; `start()` claims supervision."""

    def __init__(self, registry: Registry, job: str | Path, *, min_interval_s: float = 2.0,
                 heartbeat_s: float = liveness.HEARTBEAT_S, clock=time.time):
        self.registry = registry
        self.job_dir = resolve_job_dir(registry, job)
        self.job_id = self.job_dir.name
        self.min_interval_s, self.heartbeat_s, self.clock = min_interval_s, heartbeat_s, clock
        self.values: dict = {}
        self.started_at: float | None = None
        self.rate: float | None = None
        self._last_write = 0.0
        self._pending_saves: list[Path] = []
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def start(self, *, worker: str | None = None, gpu: str | None = None) -> dict:
        """Record this process as the job's supervisor and mark the row running."""
        folder = read_job_folder(self.job_dir)
        rate = job_rate(folder)
        self.rate = rate.usd_per_hour if rate else None
        supervisor = {"host": liveness.this_host(), "pid": os.getpid(),
                      "pid_start": liveness.pid_start_token(os.getpid()), "worker": worker, "gpu": gpu}
        update_meta(self.job_dir, supervisor=supervisor, lost=None,
                    rate=None if rate is None else {"usd_per_hour": rate.usd_per_hour, "source": rate.source})
        row = register_folder(self.registry, self.job_dir, versions=False)
        update_job(self.registry, self.job_id, status=schema.RUNNING, heartbeat_at=self.clock())
        self._beat = threading.Thread(target=self._heartbeat, name=f"heartbeat-{self.job_id}", daemon=True)
        self._beat.start()
        return row

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self._write({"heartbeat_at": self.clock()})

    def _write(self, values: dict) -> bool:
        try:
            update_job(self.registry, self.job_id, **values)
        except (sa.exc.DBAPIError, RegistryError) as error:
            # Training must not die because the registry is busy or away; the folder keeps the facts
            # and finish() / `registry rebuild` bring the row up to date.
            log.warning("registry update for %s failed (will retry): %s", self.job_id, error)
            return False
        return True

    def _absorb(self, event: dict) -> None:
        kind, values = event.get("type"), self.values
        if kind == "started":
            self.started_at = event.get("t", self.clock())
            values.update(started_at=self.started_at, pgid=event.get("pgid") or event.get("pid"))
        elif kind == "config":
            values["total_steps"] = event.get("steps") or values.get("total_steps")
        elif kind == "step" and (event.get("step") or 0) >= (values.get("step") or 0):
            rate = event.get("s_per_it") or (1.0 / event["it_s"] if event.get("it_s") else None)
            values.update(step=event.get("step"), total_steps=event.get("total") or values.get("total_steps"),
                          last_loss=event.get("loss", event.get("avr_loss")), mean_s_per_it=rate)
        elif kind == "epoch":
            values["epoch"] = event.get("epoch")
        elif kind == "limit" and event.get("cost_usd") is not None:
            values["cost_usd"] = event["cost_usd"]
        elif kind == "saved" and event.get("path"):
            path = Path(event["path"])
            self._pending_saves.append(path if path.is_absolute() else self.job_dir / path)

    def on_event(self, event: dict) -> None:
        """Update the row from one event; writes at most every min_interval_s except for key events."""
        self._absorb(event)
        now = self.clock()
        if self.rate is not None and self.started_at is not None and event.get("type") != "limit":
            self.values["cost_usd"] = cost_between(self.rate, self.started_at, now)
        if event.get("type") == "step" and self._pending_saves:
            self._register_saves()  # the trainer moved on, so the announced file is complete
        if event.get("type") in _URGENT or now - self._last_write >= self.min_interval_s:
            if self._write({**self.values, "heartbeat_at": now}):
                self._last_write = now

    def _register_saves(self) -> None:
        files, self._pending_saves = self._pending_saves, []
        try:
            sync_versions(self.registry, read_job_folder(self.job_dir), [f for f in files if f.is_file()])
        except (sa.exc.DBAPIError, RegistryError, OSError) as error:
            log.warning("registering saved files of %s failed (finish() retries): %s", self.job_id, error)

    def finish(self, outcome=None, *, cause: str | None = None) -> dict:
        """Stop the heartbeat and write the final row (and every output file) from the job folder. When the
        folder or the database cannot take it (full disk, read-only), the row is written from the outcome
        (or CAUSE) alone, and `registry rebuild` completes it later."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        try:
            row = register_folder(self.registry, self.job_dir)
            if outcome is not None and not (self.job_dir / "summary.json").is_file():
                # The runner always writes summary.json; without one, the outcome is all we know.
                final = {"status": outcome.status, "cause": getattr(outcome, "cause", None),
                         "exit_code": getattr(outcome, "exit_code", None), "ended_at": self.clock()}
                update_meta(self.job_dir, outcome=final)
                row = register_folder(self.registry, self.job_dir, versions=False)
            return row
        except (sa.exc.DBAPIError, RegistryError, OSError) as error:
            log.warning("recording the end of %s from its folder failed: %s", self.job_id, error)
            return self._row_from(outcome, cause or str(error))

    def fail_row(self, cause: str) -> dict:
        """Record a failure in the row alone, for a job whose folder cannot hold it (gone, read-only, damaged)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        return self._row_from(None, cause)

    def _row_from(self, outcome, cause: str) -> dict:
        status = getattr(outcome, "status", None) or "failed"
        named = getattr(outcome, "cause", None)
        values = {"status": status, "cause": f"{named}: {getattr(outcome, 'message', '')}" if named else cause,
                  "exit_code": getattr(outcome, "exit_code", None), "ended_at": self.clock()}
        self._write(values)
        return {"id": self.job_id, "job_dir": str(self.job_dir), **values}

"""Run a prepared job: stream the child's output to train.log and events, apply guards, decide the outcome."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from kohya_wrap.job import folder as jobfolder
from kohya_wrap.errors import BackendError
from kohya_wrap.launch import process
from kohya_wrap.job.outcome import Outcome, decide_outcome, replace
from kohya_wrap.launch.spec import LaunchSpec
from kohya_wrap.limits.guards import StopRequest

EventSink = Callable[[dict], None]


class EventLog:
    """Appends events to events.jsonl as they happen and fans them out to sinks."""

    def __init__(self, job_dir: Path, sinks: list[EventSink]):
        self.path = job_dir / jobfolder.EVENTS
        self.sinks = sinks
        self.events: list[dict] = []
        self._handle = open(self.path, "a", encoding="utf-8")

    def emit(self, event: dict) -> dict:
        self.events.append(event)
        self._handle.write(json.dumps(event, ensure_ascii=False) + "\n")
        self._handle.flush()
        for sink in self.sinks:
            sink(event)
        return event

    def close(self) -> None:
        self._handle.close()


def load_spec(job_dir: Path) -> LaunchSpec:
    path = job_dir / jobfolder.COMMAND
    if not path.is_file():
        raise BackendError(f"{path} is missing: this job was rendered without a backend.",
                           hint="install or register sd-scripts, then run `kohya-wrap train <job>/job.toml` again")
    return LaunchSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))


def run_job(job_dir: Path, *, on_event: EventSink | None = None, guards=(), env: dict | None = None,
            resume_state: Path | None = None, step_offset: int = 0,
            on_progress: Callable[[dict], None] | None = None,
            grace_s: float | None = None) -> Outcome:
    """Launch the job's trainer, follow it to the end, decide the outcome and write the reports.

    ON_EVENT gets every event as it is written to events.jsonl; ON_PROGRESS gets each new redraw of the
    training bar (a step event only comes once its step is complete, with that step's final loss).
    """
    from kohya_wrap.logs.parse import LogParser

    job_dir = Path(job_dir).resolve()
    spec = load_spec(job_dir)
    if resume_state is not None:
        spec = LaunchSpec.from_dict({**spec.to_dict(), "argv": spec.argv + ["--resume", str(resume_state)]})
    log = EventLog(job_dir, [sink for sink in [on_event] if sink])
    proc = process.start(spec, base_env=None if env is None else {**os.environ, **env})
    started = {"type": "started", "t": time.time(), "pid": proc.pid, "pgid": proc.pid, "host": socket.gethostname(),
               "argv": spec.argv, "resume": str(resume_state) if resume_state else None, "step_offset": step_offset}
    log.emit(started)
    launch = _job_launch(job_dir)
    grace = grace_s if grace_s is not None else launch.get("grace_seconds", 30.0)
    supervisor = _Supervisor(proc, log, LogParser(step_offset=step_offset or None), list(guards), grace,
                             launch.get("stop_on_nan", True))
    supervisor.on_progress = on_progress
    supervisor.check_guards(started, started["t"])  # guards bill from the launch, not from the first output
    try:
        supervisor.follow(job_dir / jobfolder.TRAIN_LOG)
        return _finish(job_dir, supervisor, step_offset)
    finally:
        log.close()


def _job_launch(job_dir: Path) -> dict:
    from kohya_wrap.tomlcompat import loads

    path = job_dir / jobfolder.JOB_TOML
    return loads(path.read_text(encoding="utf-8")).get("launch", {}) if path.is_file() else {}


class _Supervisor:
    """Streams the child's bytes to train.log and the parser; applies guards; stops the group when asked."""

    def __init__(self, proc, log: EventLog, parser, guards, grace_s: float, stop_on_nan: bool):
        self.proc, self.log, self.parser, self.guards = proc, log, parser, guards
        self.grace_s, self.stop_on_nan = grace_s, stop_on_nan
        self.stop: StopRequest | None = None
        self.signalled: StopRequest | None = None
        self._stopper: threading.Thread | None = None
        self.on_progress = None
        self._last_progress: dict | None = None
        self.stop_signals: list[str] = []

    def follow(self, log_path: Path) -> None:
        pump = process.OutputPump(self.proc.stdout)
        previous = self._trap_signals()
        try:
            self._pump(pump, log_path)
        finally:
            _restore_signals(previous)
        self.proc.wait()
        if self._stopper is not None:
            self._stopper.join()
        process.kill_leftovers(self.proc.pid)
        for event in self.parser.finish(time.time()):
            self.log.emit(event.to_dict())

    def _pump(self, pump, log_path: Path) -> None:
        with process.append_raw(log_path) as raw:
            while True:
                chunk = pump.get(timeout=0.2)
                if self.signalled is not None:
                    self.request(self.signalled)
                now = time.time()
                if chunk is None:
                    break
                if chunk:
                    raw.write(chunk)
                    for event in self.parser.feed(chunk, now):
                        self._on_event(event.to_dict(), now)
                    self._progress()
                self.check_guards({"type": "tick", "t": now}, now)

    def _progress(self) -> None:
        current = self.parser.progress
        if self.on_progress is not None and current is not None and current != self._last_progress:
            self._last_progress = current
            self.on_progress(current)

    def _on_event(self, event: dict, now: float) -> None:
        event = self.log.emit(event)
        if self.stop_on_nan and event.get("type") == "error" and event.get("kind") == "nan":
            self.request(StopRequest("nan", "Loss became NaN: the run cannot recover, stopping it."))
        self.check_guards(event, now)

    def check_guards(self, event: dict, now: float) -> None:
        for guard in self.guards:
            request = guard.check(event, now)
            if request is not None and self.stop is None:
                measured = guard.progress(now) if hasattr(guard, "progress") else {}
                self.log.emit({"type": "limit", "t": now, "cause": request.cause, "message": request.message,
                               **measured})
                self.request(request)

    def _trap_signals(self) -> dict:
        """Ctrl-C or SIGTERM to kohya-wrap stops the child's group (never orphans it); handled in the loop."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def note(signum, frame):
            cause, message = SIGNAL_STOPS[signum]
            self.signalled = StopRequest(cause, message)

        return {signum: signal.signal(signum, note) for signum in SIGNAL_STOPS}

    def request(self, stop: StopRequest) -> None:
        """Stop the child's group once: SIGINT, grace, SIGTERM, grace, SIGKILL (on a thread: output keeps flowing)."""
        if self.stop is not None:
            return
        self.stop = stop
        self._stopper = threading.Thread(target=process.stop_group, daemon=True, args=(self.proc.pid, self.grace_s),
                                         kwargs={"is_done": lambda: self.proc.poll() is not None,
                                                 "sent": self.stop_signals})
        self._stopper.start()


SIGNAL_STOPS = {signal.SIGINT: ("interrupted", "Interrupted by the user (Ctrl-C)."),
              signal.SIGTERM: ("terminated", "kohya-wrap itself received SIGTERM.")}


def _restore_signals(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _finish(job_dir: Path, supervisor: _Supervisor, step_offset: int) -> Outcome:
    """Decide the outcome once, from the events and the inspected outputs, and write the reports with it."""
    from kohya_wrap.reports.summary import build_summary

    code = supervisor.proc.returncode
    exit_code, sig = (None, -code) if code is not None and code < 0 else (code, None)
    output_dir, output_name = jobfolder.output_target(job_dir)
    final = output_dir / f"{output_name}.safetensors"
    events = supervisor.log.events
    # Each output is inspected here once (sha256, header, NaN/Inf); the summary and the registry reuse it.
    outputs = build_summary(job_dir, events, {"status": "running"}, scalars=[])["outputs"]
    nonfinite = [Path(o["path"]).name for o in outputs if o.get("exists") and not o.get("good")]
    decided = decide_outcome(events, final_output_exists=final.is_file(), exit_code=exit_code, signal=sig,
                             stop_requested=supervisor.stop.cause if supervisor.stop else None,
                             nonfinite_outputs=nonfinite)
    steps = [event for event in events if event.get("type") == "step"]
    outcome = replace(decided, stop_signals=list(supervisor.stop_signals),
                      step=steps[-1]["step"] if steps else step_offset or None,
                      total=steps[-1].get("total") if steps else None)
    supervisor.log.emit({"type": "exited", "t": time.time(), "code": exit_code, "signal": sig,
                         "cause": outcome.cause, "status": outcome.status, "stop_signals": outcome.stop_signals})
    _write_reports(job_dir, outcome)
    return outcome


def _write_reports(job_dir: Path, outcome: Outcome) -> None:
    from kohya_wrap.reports.write import write_reports

    write_reports(job_dir, outcome=outcome.to_dict())


def signal_name(number: int | None) -> str | None:
    return signal.Signals(number).name if number else None

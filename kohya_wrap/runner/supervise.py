"""Run a prepared job: stream the child's output to train.log and events, apply guards, decide the outcome."""

from __future__ import annotations

import errno
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
from kohya_wrap.job.causes import hint
from kohya_wrap.launch import process
from kohya_wrap.job.outcome import Outcome, decide_outcome, replace
from kohya_wrap.launch.spec import LaunchSpec
from kohya_wrap.limits.guards import StopRequest
from kohya_wrap.runner.disk import write_failure
from kohya_wrap.runner.resume import for_job
from kohya_wrap.runner.writes import EventLog, EventSink, LineBound, RawLog, Reserve, disk_text_cause, open_record

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
    reserve, log = open_record(job_dir, [sink for sink in [on_event] if sink])
    try:
        proc = process.start(spec, base_env=None if env is None else {**os.environ, **env})
    except BaseException:
        reserve.release()
        log.close()
        raise
    started = {"type": "started", "t": time.time(), "pid": proc.pid, "pgid": proc.pid, "host": socket.gethostname(),
               "argv": spec.argv, "resume": str(resume_state) if resume_state else None, "step_offset": step_offset}
    log.emit(started)
    launch = _job_launch(job_dir)
    grace = grace_s if grace_s is not None else launch.get("grace_seconds", 30.0)
    supervisor = _Supervisor(proc, log, LogParser(step_offset=step_offset or None), list(guards), grace,
                             launch.get("stop_on_nan", True), jobfolder.output_target(job_dir)[0])
    supervisor.on_progress = on_progress
    supervisor.check_guards(started, started["t"])  # guards bill from the launch, not from the first output
    try:
        supervisor.follow(job_dir / jobfolder.TRAIN_LOG)
        return _finish(job_dir, supervisor, step_offset, reserve)
    finally:
        reserve.release()
        log.close()


def _job_launch(job_dir: Path) -> dict:
    from kohya_wrap.tomlcompat import loads

    path = job_dir / jobfolder.JOB_TOML
    return loads(path.read_text(encoding="utf-8")).get("launch", {}) if path.is_file() else {}


class _Supervisor:
    """Streams the child's bytes to train.log and the parser; applies guards; stops the group when asked."""

    def __init__(self, proc, log: EventLog, parser, guards, grace_s: float, stop_on_nan: bool, output_dir: Path):
        self.proc, self.log, self.parser, self.guards = proc, log, parser, guards
        self.grace_s, self.stop_on_nan = grace_s, stop_on_nan
        self.output_dir = Path(os.path.realpath(output_dir))
        self.bound = LineBound()
        self.raw: RawLog | None = None
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
            self.log.emit(self._inside_output(event.to_dict()))

    def _pump(self, pump, log_path: Path) -> None:
        self.raw = raw = RawLog(log_path)
        try:
            while True:
                chunk = pump.get(timeout=0.2)
                if chunk is None:
                    break
                self._tick()
                if chunk:
                    raw.write(chunk)
                    self._feed(chunk, time.time())
            # The trainer closed its output but may still run: the limits keep applying on the clock.
            while self.proc.poll() is None:
                self._tick()
                time.sleep(0.2)
        finally:
            raw.close()

    def _tick(self) -> None:
        if self.signalled is not None:
            self.request(self.signalled)
        now = time.time()
        self.check_guards({"type": "tick", "t": now}, now)

    def _feed(self, chunk: bytes, now: float) -> None:
        dropped = self.bound.dropped
        for event in self.parser.feed(self.bound.cut(chunk), now):
            self._on_event(event.to_dict(), now)
        if dropped == 0 and self.bound.dropped:
            self.log.emit({"type": "warning", "t": now, "kind": "long_line", "source": "kohya-wrap",
                           "message": f"the trainer wrote a line longer than {self.bound.limit} bytes: only its "
                                      "start is parsed (train.log keeps it whole)"})
        self._progress()

    def _progress(self) -> None:
        current = self.parser.progress
        if self.on_progress is not None and current is not None and current != self._last_progress:
            self._last_progress = current
            self.on_progress(current)

    def _on_event(self, event: dict, now: float) -> None:
        event = self.log.emit(self._inside_output(event))
        if self.stop_on_nan and event.get("type") == "error" and event.get("kind") == "nan":
            self.request(StopRequest("nan", "Loss became NaN: the run cannot recover, stopping it."))
        self.check_guards(event, now)

    def _inside_output(self, event: dict) -> dict:
        """Only a file inside the job's output folder is a saved output; any other path the trainer names
        (a log line `saving checkpoint: /etc/passwd`) becomes a warning."""
        if event.get("type") != "saved" or not event.get("path"):
            return event
        real = Path(os.path.realpath(self.output_dir / event["path"]))
        if real == self.output_dir or self.output_dir in real.parents:
            return event
        return {"type": "warning", "t": event.get("t"), "kind": "saved_outside_output", "source": "kohya-wrap",
                "message": f"the trainer named {event['path']} as saved, which is outside the job's output folder "
                           f"{self.output_dir}: not recorded as an output"}

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


def _finish(job_dir: Path, supervisor: _Supervisor, step_offset: int, reserve: Reserve) -> Outcome:
    """Decide the outcome once, from the events and the inspected outputs, and write the reports with it."""
    from kohya_wrap.reports.summary import output_entries

    code = supervisor.proc.returncode
    exit_code, sig = (None, -code) if code is not None and code < 0 else (code, None)
    output_dir, output_name = jobfolder.output_target(job_dir)
    final = output_dir / f"{output_name}.safetensors"
    events = supervisor.log.events
    # Each output is inspected here once (sha256, header, NaN/Inf); the summary and the registry reuse it.
    outputs = output_entries(job_dir, events)
    nonfinite = [Path(o["path"]).name for o in outputs if o.get("exists") and not o.get("good")]
    decided = decide_outcome(events, final_output_exists=final.is_file(), exit_code=exit_code, signal=sig,
                             stop_requested=supervisor.stop.cause if supervisor.stop else None,
                             nonfinite_outputs=nonfinite)
    decided = _disk_outcome(decided, supervisor, job_dir)
    steps = [event for event in events if event.get("type") == "step"]
    outcome = replace(for_job(decided, job_dir.name), stop_signals=list(supervisor.stop_signals),
                      step=steps[-1]["step"] if steps else step_offset or None,
                      total=steps[-1].get("total") if steps else None)
    if supervisor.log.failure is not None or supervisor.raw.failure is not None:
        reserve.release()  # room for the last events and the record
        supervisor.log.retry()
    supervisor.log.emit({"type": "exited", "t": time.time(), "code": exit_code, "signal": sig,
                         "cause": outcome.cause, "status": outcome.status, "stop_signals": outcome.stop_signals})
    _write_record(job_dir, outcome, supervisor.log.events, reserve, _lost_writes(supervisor, job_dir))
    return outcome


def _disk_outcome(decided: Outcome, supervisor: _Supervisor, job_dir: Path) -> Outcome:
    """A run that did not succeed because a write failed ends as disk_full / read_only, with the free space
    and the folder: our own writes (train.log, events.jsonl) or the trainer's, as its output says."""
    if decided.status == "succeeded":
        return decided
    ours = supervisor.raw.failure or supervisor.log.failure
    failure = write_failure(ours, job_dir) if ours is not None else None
    if failure is None:
        cause = disk_text_cause(bytes(supervisor.raw.tail))
        if cause is None:
            return decided
        failure = (cause, write_failure(OSError(DISK_ERRNO[cause], "the trainer's write failed"), job_dir)[1])
    return replace(decided, status="failed", cause=failure[0], message=failure[1], hint=hint(failure[0]))


DISK_ERRNO = {"disk_full": errno.ENOSPC, "read_only": errno.EROFS}


def _lost_writes(supervisor: _Supervisor, job_dir: Path) -> str | None:
    """What of the run's own record the disk refused for good (train.log stopped; events never written)."""
    if supervisor.raw.failure is not None:
        return f"train.log stopped early: {write_failure(supervisor.raw.failure, job_dir)[1]}"
    if supervisor.log.failure is not None:
        return f"events.jsonl is incomplete: {write_failure(supervisor.log.failure, job_dir)[1]}"
    return None


def _write_record(job_dir: Path, outcome: Outcome, events: list[dict], reserve: Reserve,
                  lost_writes: str | None) -> None:
    """summary.json and the reports; on a full disk the reserve makes room for summary.json alone, with
    what could not be written; complete outputs are recorded with their sha256, partial ones marked."""
    from kohya_wrap.reports.summary import build_summary, write_summary
    from kohya_wrap.reports.write import write_reports

    try:
        summary = write_reports(job_dir, outcome=outcome.to_dict())
        if lost_writes is None:
            return
        problem = lost_writes
    except OSError as error:
        failure = write_failure(error, job_dir)
        if failure is None:
            raise
        reserve.release()
        summary = build_summary(job_dir, events, outcome.to_dict(), scalars=[])
        problem = "; ".join(filter(None, [lost_writes, f"report.html and report.md were not written: {failure[1]}"]))
    for entry in summary["outputs"]:
        if entry.get("exists") and entry.get("error"):
            entry["partial"] = True
    summary["record_problem"] = problem
    try:
        write_summary(job_dir, summary)
    except OSError as error:
        if write_failure(error, job_dir) is None:
            raise
        # Nothing more fits: the registry row (written by the caller from the outcome) is the record.


def signal_name(number: int | None) -> str | None:
    return signal.Signals(number).name if number else None

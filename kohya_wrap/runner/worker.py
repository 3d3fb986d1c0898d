"""A queue worker: claim the next job, render it for this machine, run it, record it; stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kohya_wrap.errors import EXIT_FAILED, EXIT_LIMIT, EXIT_OK, KohyaWrapError
from kohya_wrap.job import folder as jobfolder
from kohya_wrap.job.causes import LIMIT_STOPS
from kohya_wrap.job.meta import update_meta
from kohya_wrap.limits.guards import FlagGuard
from kohya_wrap.registry import liveness
from kohya_wrap.registry.db import Registry
from kohya_wrap.registry.queue import claim_next, requeue
from kohya_wrap.registry.recorder import JobRecorder
from kohya_wrap.runner.plan import plan_limits
from kohya_wrap.runner.prepare import render_for_this_machine
from kohya_wrap.runner.resume import counting
from kohya_wrap.runner import attempts
from kohya_wrap.runner.disk import write_failure
from kohya_wrap.runner.supervise import run_job
from kohya_wrap.runner.writes import DiskProblem

ON_TERM = ("requeue", "stop")
GOOD = ("succeeded",)
STOPS_WORKER = ("failed", "stopped", "lost")  # a job cancelled by the user is no reason to stop
# What is wrong with one job's folder (not with the worker or the machine): fail that job, go on.
JOB_FOLDER_CAUSES = ("damaged_job", "read_only")
RUNNER_SIGNAL_CAUSES = {"terminated": "SIGTERM", "interrupted": "SIGINT"}


@dataclass
class WorkerOptions:
    gpu: str | None = None
    continue_on_error: bool = False
    once: bool = False  # run one job (waiting for one unless drain), then exit
    drain: bool = False  # exit when the queue is empty instead of waiting for more
    on_term: str = "requeue"
    poll_s: float = 5.0
    retry_lost: int = 0  # retry a job lost mid-run (resuming from its state) until it had this many attempts


@dataclass
class WorkerResult:
    ran: list[tuple[str, str]] = field(default_factory=list)  # (job id, final status)
    exit_code: int = EXIT_OK
    stopped_by: str | None = None


class Worker:
    def __init__(self, registry: Registry, options: WorkerOptions, *,
                 say: Callable[[str], None] = lambda text: None):
        """say receives one line per thing the worker does (the CLI shows them)."""
        if options.on_term not in ON_TERM:
            raise KohyaWrapError(f"--on-term must be one of {', '.join(ON_TERM)}")
        self.registry, self.options, self.say = registry, options, say
        self.id = f"{liveness.this_host()}:{os.getpid()}" + (f":gpu{options.gpu}" if options.gpu else "")
        self.stopping: str | None = None
        self._wake = threading.Event()
        self._term_guard: FlagGuard | None = None

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        self.request_stop(signal.Signals(signum).name)

    def request_stop(self, why: str = "SIGTERM") -> None:
        """Finish now: the running job is put back in the queue or stopped (options.on_term)."""
        self.stopping = why
        if self._term_guard is not None:
            self._term_guard.raise_flag()
        self._wake.set()

    def run(self) -> WorkerResult:
        result = WorkerResult()
        while not self.stopping:
            for job_id in attempts.sweep(self.registry, retry_lost=self.options.retry_lost, worker=self.id):
                self.say(f"worker {self.id}: {job_id} was lost; queued again (retry policy)")
            row = claim_next(self.registry, worker=self.id, gpu=self.options.gpu)
            if row is None:
                if self.options.drain:
                    break
                self._wake.wait(self.options.poll_s)
                continue
            status, cause = self.run_one(row)
            result.ran.append((row["id"], status))
            if self.stopping:
                break
            if status in STOPS_WORKER and not self.options.continue_on_error and cause not in JOB_FOLDER_CAUSES:
                self.say(f"worker {self.id}: job {row['id']} ended {status}; stopping "
                         "(use --continue-on-error to go on)")
                result.exit_code = EXIT_LIMIT if cause in LIMIT_STOPS else EXIT_FAILED
                break
            if self.options.once:
                break
        result.stopped_by = self.stopping
        return result

    def _guards(self, job_dir: Path) -> list:
        """The job's limits plan (the estimate recorded when it was queued) plus this worker's stop flag."""
        recorded = jobfolder.read(job_dir).meta.get("estimate") or None
        cause = "requeued" if self.options.on_term == "requeue" else "worker_stopped"
        self._term_guard = FlagGuard(cause, f"worker {self.id} was asked to stop")
        if self.stopping:
            self._term_guard.raise_flag()
        return [*plan_limits(self.registry, job_dir, recorded=recorded, queued=True).guards, self._term_guard]

    def run_one(self, row: dict) -> tuple[str, str | None]:
        """Run one claimed job; returns its final (status, cause)."""
        job_dir = Path(row["job_dir"])
        self.say(f"worker {self.id}: running {row['id']}")
        problem = row.get("problem") or attempts.damage(job_dir)
        if problem:
            kind = row.get("problem_cause") or "damaged_job"
            cause = attempts.fail_damaged(self.registry, row, problem, kind)
            self.say(f"worker {self.id}: {row['id']} failed: {cause}")
            return "failed", kind
        recorder = JobRecorder(self.registry, job_dir)
        env = {"CUDA_VISIBLE_DEVICES": self.options.gpu} if self.options.gpu is not None else None
        try:
            for line in render_for_this_machine(job_dir):
                self.say(f"worker {self.id}: profile: {line}")
            recorder.start(worker=self.id, gpu=self.options.gpu)
            guards = self._guards(job_dir)
            point, offset = attempts.resume_point(job_dir), 0
            if point is not None:
                offset, notes = counting(job_dir, jobfolder.read_args(job_dir), point)
                self.say(f"worker {self.id}: {row['id']} resumes from {point.state_dir} (step {point.step}); "
                         + "; ".join(notes))
            outcome = run_job(job_dir, on_event=recorder.on_event, guards=guards, env=env,
                              resume_state=point.state_dir if point else None, step_offset=offset)
        except DiskProblem as error:
            return self._fail(recorder, f"{error.cause}: {error.message}"), error.cause
        except KohyaWrapError as error:
            return self._fail(recorder, error.render().replace("\n", " ")), None
        except OSError as error:
            failure = write_failure(error, job_dir)  # the folder refused a write before the launch
            if failure is None:
                self._fail(recorder, f"kohya-wrap crashed: {type(error).__name__}: {error}")
                raise
            return self._fail(recorder, f"{failure[0]}: {failure[1]}"), failure[0]
        except Exception as error:
            # A bug, not a job problem: record it on the job, then let the traceback show.
            self._fail(recorder, f"kohya-wrap crashed: {type(error).__name__}: {error}")
            raise
        final = recorder.finish(outcome)
        self._term_guard = None
        if self._runner_was_signalled(outcome) and not self.stopping:
            self.stopping = RUNNER_SIGNAL_CAUSES[outcome.cause]
        if self.stopping and self.options.on_term == "requeue" and final["status"] not in GOOD:
            final = requeue(self.registry, row["id"], reason=f"put back by worker {self.id} ({self.stopping})")
        self.say(f"worker {self.id}: {row['id']} {final['status']}"
                 + (f" ({final['cause']})" if final.get("cause") else ""))
        return final["status"], final.get("cause")

    @staticmethod
    def _runner_was_signalled(outcome) -> bool:
        # The runner traps SIGINT/SIGTERM while it follows the trainer and stops the trainer itself
        # (so it sent signals); a trainer interrupted from outside (`jobs stop`) shows no sent signals.
        return getattr(outcome, "cause", None) in RUNNER_SIGNAL_CAUSES and bool(getattr(outcome, "stop_signals", None))

    def _fail(self, recorder: JobRecorder, cause: str) -> str:
        try:
            update_meta(recorder.job_dir, outcome={"status": "failed", "cause": cause})
        except (OSError, ValueError):  # a folder that cannot hold it: the row alone records the failure
            recorder.fail_row(cause)
        else:
            recorder.finish(cause=cause)
        self.say(f"worker {self.id}: {recorder.job_id} failed: {cause}")
        return "failed"

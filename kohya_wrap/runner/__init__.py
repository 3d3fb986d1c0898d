"""Use cases, the only layer that crosses stages: prepare, train, resume, the worker, stop/remove, submit."""

from kohya_wrap.job.outcome import Outcome
from kohya_wrap.limits.guards import StopRequest
from kohya_wrap.runner.prepare import Prepared, prepare, prepare_job
from kohya_wrap.runner.supervise import run_job

__all__ = ["Outcome", "Prepared", "StopRequest", "prepare", "prepare_job", "run_job"]

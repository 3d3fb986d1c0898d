"""The one orchestrator that ties stages together for a job: prepare, run, resume."""

from kohya_wrap.runner.prepare import Prepared, prepare, prepare_job
from kohya_wrap.runner.supervise import Outcome, StopRequest, run_job

__all__ = ["Outcome", "Prepared", "StopRequest", "prepare", "prepare_job", "run_job"]

"""Queue workers that run inside the dashboard process, one thread each (the same Worker as `kohya-wrap worker`)."""

from __future__ import annotations

import logging
import threading
from collections import deque

from kohya_wrap.runner.worker import Worker, WorkerOptions

log = logging.getLogger("kohya_wrap.web.worker")
STOP_WAIT_S = 90.0  # a running job gets its grace periods to stop and be put back in the queue


class EmbeddedWorkers:
    """Start N workers on the app's registry; on shutdown each puts its running job back in the queue."""

    def __init__(self, registry, count: int, poll_s: float = 2.0):
        self.registry, self.count, self.poll_s = registry, count, poll_s
        self.workers: list[Worker] = []
        self.threads: list[threading.Thread] = []
        self.errors: list[str] = []
        self.said: deque[str] = deque(maxlen=200)  # the last things the workers did, for the status page

    def start(self) -> None:
        for number in range(self.count):
            # A job that fails is no reason for a dashboard's worker to stop taking jobs.
            options = WorkerOptions(continue_on_error=True, poll_s=self.poll_s, on_term="requeue")
            worker = Worker(self.registry, options, say=self._say)
            worker.id = f"{worker.id}:web{number}"
            thread = threading.Thread(target=self._run, args=(worker,), name=f"kw-worker-{number}", daemon=True)
            self.workers.append(worker)
            self.threads.append(thread)
            thread.start()

    def _say(self, line: str) -> None:
        self.said.append(line)
        log.info("%s", line)

    def _run(self, worker: Worker) -> None:
        try:
            worker.run()
        except Exception as error:
            # A bug in the runner: keep the dashboard up, show the worker as dead with why.
            log.exception("worker %s crashed", worker.id)
            self.errors.append(f"{worker.id}: {type(error).__name__}: {error}")

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        for worker in self.workers:
            worker.request_stop("dashboard stopping")
        for thread in self.threads:
            thread.join(timeout_s)

    def status(self) -> dict:
        return {"configured": self.count, "alive": sum(thread.is_alive() for thread in self.threads),
                "ids": [worker.id for worker in self.workers], "errors": list(self.errors),
                "recent": list(self.said)[-20:]}

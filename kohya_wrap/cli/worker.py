"""`kohya-wrap worker`: take queued jobs one at a time and run them."""

from __future__ import annotations

import sys

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--gpu", default=None, metavar="N",
              help="Run jobs on this GPU only (sets CUDA_VISIBLE_DEVICES=N for the trainer).")
@click.option("--continue-on-error", is_flag=True, help="Go on with the next job when one fails.")
@click.option("--once", is_flag=True, help="Run one job (waiting for one), then exit.")
@click.option("--drain", is_flag=True, help="Exit when the queue is empty instead of waiting for more.")
@click.option("--on-term", type=click.Choice(["requeue", "stop"]), default="requeue", show_default=True,
              help="On SIGTERM/Ctrl-C: stop the running job and put it back in the queue, or stop it for good.")
@click.option("--poll", "poll_s", type=float, default=5.0, show_default=True,
              help="Seconds between looks at an empty queue.")
@click.option("--retry-lost", type=click.IntRange(0, 100), default=0, show_default=True, metavar="N",
              help="Queue a job lost mid-run again (resuming from its last state) until it had N attempts.")
def worker(gpu, continue_on_error, once, drain, on_term, poll_s, retry_lost):
    """Claim the next queued job, run it, record it; repeat. Start one worker per GPU; workers on
    several machines can share one queue through KOHYA_WRAP_DB.

    On SIGTERM (or Ctrl-C) the worker stops its running job gracefully and, with the default
    --on-term requeue, puts it back in the queue for another worker; then it exits.

    \b
    Example:
      kohya-wrap worker --gpu 0 &
      kohya-wrap worker --gpu 1 --continue-on-error &
      kohya-wrap worker --once --drain      # one job if one is queued, else exit
    """
    from kohya_wrap.backend.locate import require_backend
    from kohya_wrap.errors import EXIT_INTERRUPTED
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.runner.worker import Worker, WorkerOptions

    require_backend()  # a worker without sd-scripts could only wait, or fail every job it claims
    options = WorkerOptions(gpu=gpu, continue_on_error=continue_on_error, once=once, drain=drain,
                            on_term=on_term, poll_s=poll_s, retry_lost=retry_lost)
    runner = Worker(open_registry(), options, say=lambda text: click.echo(text, err=True))
    runner.install_signal_handlers()
    click.echo(f"worker {runner.id}: waiting for jobs" + ("" if not drain else " (until the queue is empty)"),
               err=True)
    result = runner.run()
    done = ", ".join(f"{job} {status}" for job, status in result.ran) or "no jobs"
    click.echo(f"worker {runner.id}: exiting ({done})"
               + (f"; stopped by {result.stopped_by}" if result.stopped_by else ""), err=True)
    # stopped with Ctrl-C: the shell's convention for an interrupted command (a SIGTERM stop is a clean exit)
    sys.exit(EXIT_INTERRUPTED if result.stopped_by == "SIGINT" and result.exit_code == 0 else result.exit_code)

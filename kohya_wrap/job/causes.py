"""The one table of causes: why a job ended -> the status it gets -> the hint the user sees."""

from __future__ import annotations

from dataclasses import dataclass

SUCCEEDED, FAILED, CANCELLED, STOPPED, LOST = "succeeded", "failed", "cancelled", "stopped", "lost"
STATUSES = (SUCCEEDED, FAILED, CANCELLED, STOPPED)


@dataclass(frozen=True)
class Cause:
    """A named reason a run ended, the status it leads to and what to do about it."""

    name: str
    status: str
    hint: str | None


_RESUME = "If it saved state, continue it with `kohya-wrap train --resume JOB`."
_ROWS = [
    # failures the trainer's output names
    Cause("oom", FAILED, "Memory ran out. Lower train_batch_size or the resolution, keep gradient_checkpointing "
          "and cache_latents on, use a smaller network_dim, or pick a preset made for less VRAM."),
    Cause("nan", FAILED, "The loss became NaN/Inf and training cannot recover from it. Lower the learning rate, "
          "prefer bf16 to fp16 (keep no_half_vae for SDXL), and check the images for broken files."),
    Cause("nonfinite_output", FAILED, "A saved LoRA holds NaN/Inf weights: lower the learning rate, prefer bf16 "
          "to fp16 (keep no_half_vae for SDXL), and check the images for broken files."),
    Cause("no_data", FAILED, "No training images were found: check the dataset folders."),
    Cause("bad_dataset_config", FAILED, "dataset.toml was refused by sd-scripts: fix the [dataset] section."),
    Cause("bad_arg", FAILED, "sd-scripts refused an argument: fix it in the preset or override."),
    Cause("missing_model", FAILED, "The base model file does not exist: fix --model."),
    Cause("missing_file", FAILED, "A file the trainer needs does not exist: fix the path."),
    Cause("backend_import", FAILED, "A package sd-scripts needs is missing or broken: `kohya-wrap doctor` shows "
          "which; `kohya-wrap backend install` installs them."),
    Cause("killed", FAILED, "The trainer stopped with no error message, so a signal killed it (SIGTERM/SIGKILL). "
          "If nobody stopped it, the kernel's out-of-memory killer is the usual cause (see `dmesg`)."),
    Cause("sampling_failed", FAILED, "Making a sample image failed: fix the sample prompt's options or the sampler, "
          "or turn sampling off; then resume the job."),
    Cause("corrupt_image", FAILED, "An image of the dataset is damaged: re-export it or remove it with its caption "
          "(`kohya-wrap data check DIR` lists them)."),
    Cause("bad_dataset", FAILED, "A file or setting of the dataset cannot be used: fix what the message names "
          "(`kohya-wrap data check DIR`)."),
    Cause("bad_network_args", FAILED, "network.network_args holds a value the network module cannot use: fix it."),
    Cause("bad_model", FAILED, "The base model cannot be read as an SDXL checkpoint: re-download it or fix --model."),
    Cause("disk_full", FAILED, "The disk is full: free space where the job writes, or keep fewer saved states."),
    Cause("permission_denied", FAILED, "The trainer may not read or write a file it needs: fix the permissions."),
    Cause("gpu_setup", FAILED, "torch cannot use the GPU: check the driver and the torch build (`kohya-wrap doctor`)."),
    Cause("native_crash", FAILED, "The trainer crashed in native code (SIGSEGV/SIGABRT): check the torch, CUDA and "
          "driver versions (`kohya-wrap doctor`)."),
    Cause("trainer_error", FAILED, "sd-scripts raised an error kohya-wrap has no rule for: the message and frame name "
          "it; the traceback is at the end of train.log."),
    Cause("unknown", FAILED, "The trainer failed without raising an exception: its last log lines (in "
          "`kohya-wrap jobs show` and report.html) tell what it did last."),
    # failures the outcome rules find
    Cause("no_training", FAILED, "Read train.log for why training never started."),
    Cause("incomplete", FAILED, "Read the end of train.log; the run stopped early."),
    Cause("no_output", FAILED, "Check output_dir and output_name, and the free disk space."),
    Cause("no_exit_recorded", FAILED, "kohya-wrap itself was stopped during the run; read train.log, or resume "
          "the job."),
    Cause("setup", FAILED, "The job could not be started: fix what the message names and queue it again."),
    Cause("damaged_job", FAILED, "A file of the job folder cannot be read (named in the message): restore or "
          "remove it, or prepare the job again; `kohya-wrap registry rebuild` lists every damaged folder."),
    # the machine, not the run: the message names the folder (and the free space)
    Cause("disk_full", FAILED, "The disk filled up: free space there (old jobs' *-state folders are the "
          "largest files), or use another runs folder (--runs, KOHYA_WRAP_RUNS); then "
          "`kohya-wrap jobs retry JOB` resumes from the last saved state."),
    Cause("read_only", FAILED, "The job folder cannot be written (read-only filesystem or no permission): make "
          "it writable, or use another runs folder (--runs, KOHYA_WRAP_RUNS), then `kohya-wrap jobs retry JOB`."),
    # stops asked for by a person (cancelled) or by a limit (stopped)
    Cause("interrupted", CANCELLED, "The run was interrupted (Ctrl-C / SIGINT). " + _RESUME),
    Cause("terminated", CANCELLED, "kohya-wrap received SIGTERM and stopped the run. " + _RESUME),
    Cause("user", CANCELLED, "Stopped by the user. " + _RESUME),
    Cause("cancelled", CANCELLED, None),
    Cause("worker_stopped", CANCELLED, "Its worker was asked to stop (--on-term stop). " + _RESUME),
    Cause("requeued", CANCELLED, "Its worker was asked to stop and put the job back in the queue."),
    Cause("cost_limit", STOPPED, "A cost limit stopped the run: raise limits.max_cost_usd, or resume the job "
          "from its state."),
    Cause("time_limit", STOPPED, "A time limit stopped the run: raise limits.max_hours, or resume the job from "
          "its state."),
]
CAUSES: dict[str, Cause] = {cause.name: cause for cause in _ROWS}
USER_STOPS = frozenset(name for name, cause in CAUSES.items() if cause.status == CANCELLED)
LIMIT_STOPS = frozenset(name for name, cause in CAUSES.items() if cause.status == STOPPED)


def cause(name: str | None) -> Cause:
    """The row for a cause; an unnamed one is 'unknown'."""
    return CAUSES.get(name or "unknown", CAUSES["unknown"])


def hint(name: str | None) -> str | None:
    return cause(name).hint


def status_of_stop(name: str) -> str:
    """The status of a run the wrapper stopped for this cause (a limit when not a person's stop)."""
    return CAUSES[name].status if name in CAUSES else STOPPED

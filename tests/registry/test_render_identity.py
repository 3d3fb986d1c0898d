"""config render, train --dry-run, queue add and the worker render the same files for the same input on the
same machine; a queued job keeps the queuing user's values; the real `accelerate launch` argv."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.tomlcompat import loads
from tests.conftest import REPO
from tests.registry.conftest import STANDIN_OVERRIDES

RENDERED = ("args.toml", "dataset.toml", "accelerate.yaml")
DATASET = REPO / "templates" / "example-dataset"
# sdxl-character asks for AdamW8bit: without bitsandbytes here the platform profile swaps in AdamW.
SOURCE, OVERRIDES = "sdxl-character", [*STANDIN_OVERRIDES, "network.network_dim=8"]


def _files(job_dir: Path) -> dict[str, str]:
    """The rendered files with this job's own folder written as <job>."""
    return {name: (job_dir / name).read_text().replace(str(job_dir.resolve()), "<job>") for name in RENDERED}


def _newest_job() -> Path:
    return max((p for p in paths.runs_dir().iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime_ns)


def test_config_render_dry_run_queue_add_and_worker_render_identical_files(cli, registry, standin, tmp_path):
    common = [SOURCE, *OVERRIDES, "--dataset", DATASET, "--model", standin.model]
    rendered = cli("config", "render", *common, "--out", tmp_path / "rendered")
    assert rendered.exit_code == 0, rendered.output
    dry = cli("train", *common, "--dry-run")
    assert dry.exit_code == 0, dry.output
    dry_job = _newest_job()
    queued = cli("queue", "add", *common, "--json")
    assert queued.exit_code == 0, queued.output
    queued_job = Path(json.loads(queued.output)[0]["job_dir"])

    reference = _files(tmp_path / "rendered")
    assert _files(dry_job) == reference
    assert _files(queued_job) == reference
    args = loads(reference["args.toml"])
    assert args["optimizer"]["optimizer_type"] == "AdamW"  # this machine's profile is in every rendering

    # the queued job keeps what the user asked for; the worker resolves it again for its own machine
    assert loads((queued_job / "job.toml").read_text())["optimizer"]["optimizer_type"] == "AdamW8bit"
    assert "optimizer_type: AdamW8bit -> AdamW" in (queued_job / "job.toml").read_text()
    from kohya_wrap.runner.prepare import render_for_this_machine

    lines = render_for_this_machine(queued_job)
    assert any(line.startswith("optimizer_type: AdamW8bit -> AdamW") for line in lines)
    assert _files(queued_job) == reference


def test_the_full_accelerate_launch_command_line(registry, standin):
    job = standin("accel", '~launch.launcher')  # the preset's default launcher: accelerate
    spec = json.loads((job / "command.json").read_text())
    import sys

    assert spec["argv"] == [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(job / "accelerate.yaml"),
        "--num_cpu_threads_per_process", "2",
        str(REPO / "tests" / "standin" / "sdxl_train_network.py"),
        "--config_file", str(job / "args.toml"), "--console_log_simple",
    ]
    assert spec["cwd"] == str(REPO / "tests" / "standin")
    assert spec["env"]["HF_HUB_OFFLINE"] == "1" and spec["env"]["PYTHONUNBUFFERED"] == "1"
    accelerate = (job / "accelerate.yaml").read_text()
    assert "use_cpu: true" in accelerate and "num_processes: 1" in accelerate

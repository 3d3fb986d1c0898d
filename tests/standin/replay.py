"""Stand-in trainer: replays the real bytes of a captured sd-scripts run, with its pacing and signal behaviour.

Used by process tests in place of sdxl_train_network.py (no torch, no model). Everything it prints comes from
tests/fixtures; the only change to those bytes is the captured run's output folder path, replaced by this
job's output_dir so that the `saving checkpoint:` paths point at the files it writes.

Environment:
  STANDIN_SCENARIO  simple | resume | skip-variant | kept-{walk,ga}-{1,2} | <failed-run name in sdxl-cpu-run/failed-runs>
  STANDIN_SECONDS   total replay time (default 2.0), distributed like the real run's step timing
  STANDIN_IGNORE    comma list of INT,TERM to ignore (to test escalation to SIGKILL)
  STANDIN_NAN       1: saved LoRA files contain NaN (what sd-scripts writes after avr_loss=nan)
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import sys
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCENARIOS = {
    "simple": (FIXTURES / "sdxl-cpu-run-simple", b"/tmp/sdxl_runs2/simple-log-mode/output", 0),
    "resume": (FIXTURES / "sdxl-cpu-run-resume", b"/tmp/sdxl_runs2/resume/output", 0),
    "skip-variant": (FIXTURES / "sdxl-cpu-run-resume" / "variant-skip_until_initial_step",
                     b"/tmp/sdxl_runs2/resume-skip/output", 0),
}
# runs captured through kohya-wrap (one merged train.log per launch), with patch 0003 applied
KEPT = FIXTURES / "sdxl-cpu-run-resume-kept"
KEPT_OUTPUT = {"walk": b"/tmp/cap/home/runs/20261201-120927-walk-8486/output",
               "ga": b"/tmp/cap2/home/runs/20261201-121607-ga-6550/output"}
for _run, _output in KEPT_OUTPUT.items():
    for _launch in (1, 2):
        SCENARIOS[f"kept-{_run}-{_launch}"] = (KEPT / _run / f"launch{_launch}", _output, 0)
FAILED_EXIT = {"fail_bad_folder_name": 0, "fail_missing_model": 1, "fail_unknown_argument": 1,
               "fail_memory_limit_ulimit_v20GB": 1, "fail_memory_limit_ulimit_v12GB": 1}
STEP_BAR = re.compile(rb"steps:\s+\d+%.*?\|\s*(\d+)/(\d+) \[(\d+):(\d+)")


def load_args(argv: list[str]) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    config = argv[argv.index("--config_file") + 1]
    with open(config, "rb") as handle:
        data = tomllib.load(handle)
    return {key: value for table in data.values() if isinstance(table, dict) for key, value in table.items()}


def records(data: bytes) -> list[bytes]:
    """Split a stream after every \\n or \\r, keeping the separators (tqdm redraws are \\r records)."""
    return [part for part in re.split(rb"(?<=[\r\n])", data) if part]


def weights(parts: list[bytes]) -> list[float]:
    """Real seconds each record took where the step bar says so; a small constant elsewhere."""
    out, last = [], 0.0
    for part in parts:
        match = STEP_BAR.search(part)
        if match:
            elapsed = int(match.group(3)) * 60 + int(match.group(4))
            out.append(max(elapsed - last, 0.0) + 0.01)
            last = elapsed
        else:
            out.append(0.01)
    return out


def merged(stdout: bytes, stderr: bytes) -> list[tuple[int, bytes, float]]:
    """Both streams merged by their position in the run (fraction of each stream's own timeline)."""
    streams = []
    for fd, data in ((1, stdout), (2, stderr)):
        parts = records(data)
        spans = weights(parts)
        total = sum(spans) or 1.0
        position = 0.0
        for part, span in zip(parts, spans):
            streams.append((position / total, fd, part, span))
            position += span
    streams.sort(key=lambda item: (item[0], item[1]))
    return [(fd, part, span) for _, fd, part, span in streams]


def write_lora(path: Path, nan: bool) -> None:
    header_file = next(FIXTURES.glob("sdxl-cpu-run/lora/*.header.json"))
    header = json.loads(header_file.read_text())
    names = [name for name in header if name != "__metadata__"][:6]
    tensors, blobs, offset = {}, [], 0
    for name in names:
        shape = header[name]["shape"]
        count = 1
        for size in shape:
            count *= size
        value = 0x7E00 if nan else 0x2E66  # float16 NaN, or 0.1
        blob = struct.pack(f"<{count}H", *([value] * count))
        tensors[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    tensors["__metadata__"] = header.get("__metadata__", {})
    raw = json.dumps(tensors).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def on_line(line: bytes, output_dir: Path, source: Path, nan: bool) -> None:
    """Create the files the real trainer created when it printed LINE."""
    text = line.decode("utf-8", "replace").strip()
    if text.startswith("saving checkpoint: "):
        write_lora(Path(text.split(": ", 1)[1]), nan)
    elif text.startswith("Saving current state to "):
        state = Path(text.split(" to ", 1)[1])
        state.mkdir(parents=True, exist_ok=True)
        real = source / "output" / state.name / "train_state.json"
        if real.is_file():
            (state / "train_state.json").write_bytes(real.read_bytes())


def copy_tensorboard(source: Path, logging_dir: Path) -> None:
    folder = source / "tensorboard" if (source / "tensorboard").is_dir() else source / "logs"
    for event_file in folder.rglob("events.out.tfevents.*"):
        target = logging_dir / event_file.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(event_file.read_bytes())


def interrupted_tail() -> bytes:
    """What the real trainer printed after SIGINT: its KeyboardInterrupt tracebacks."""
    data = (FIXTURES / "sdxl-cpu-run/failed-runs/interrupted_sigint_during_training.stderr.log").read_bytes()
    return data[data.index(b"Traceback"):]


def main() -> int:
    args = load_args(sys.argv)
    scenario = os.environ.get("STANDIN_SCENARIO", "simple")
    ignore = {name.strip() for name in os.environ.get("STANDIN_IGNORE", "").split(",") if name.strip()}
    output_dir = Path(args["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    if scenario in SCENARIOS:
        source, old_prefix, code = SCENARIOS[scenario]
        merged_log = source / "train.log"  # stdout and stderr as one stream: replayed on stdout
        stdout = (merged_log if merged_log.is_file() else source / "stdout.log").read_bytes()
        stderr = b"" if merged_log.is_file() else (source / "stderr.log").read_bytes()
        stdout, stderr = (data.replace(old_prefix, str(output_dir).encode()) for data in (stdout, stderr))
    else:
        source = FIXTURES / "sdxl-cpu-run/failed-runs"
        stdout = (source / f"{scenario}.stdout.log").read_bytes()
        stderr = (source / f"{scenario}.stderr.log").read_bytes()
        code = FAILED_EXIT[scenario]

    def interrupted(signum, frame):
        os.write(2, interrupted_tail())
        os._exit(130)

    signal.signal(signal.SIGINT, signal.SIG_IGN if "INT" in ignore else interrupted)
    if "TERM" in ignore:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    plan = merged(stdout, stderr)
    scale = float(os.environ.get("STANDIN_SECONDS", "2.0")) / (sum(span for _, _, span in plan) or 1.0)
    nan = os.environ.get("STANDIN_NAN") == "1"
    # STANDIN_HOLD_AT_STEP=N: once the bar has drawn step N, wait there (like a slow step) until a signal
    # ends the process, so stop tests need not replay a long run in real time.
    hold = int(os.environ.get("STANDIN_HOLD_AT_STEP", "0"))
    for fd, part, span in plan:
        time.sleep(span * scale)
        if fd == 1:
            on_line(part, output_dir, source, nan)
        os.write(fd, part)
        if hold and re.search(rb"steps:[^\r\n]*\|\s*%d/\d+ \[" % hold, part):
            while True:
                time.sleep(3600)
    if scenario in SCENARIOS:
        copy_tensorboard(source, Path(args["logging_dir"]))
    return code


if __name__ == "__main__":
    sys.exit(main())

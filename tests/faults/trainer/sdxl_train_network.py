"""Fake sd-scripts entry script for the fault suite: replays a real run (tests/standin) or misbehaves.

FAULT_TRAINER selects the misbehaviour (unset: the plain replay):
  flood        FAULT_BYTES bytes of output without a newline (default 300 MB), then the replay
  quiet        closes its stdout and stderr, then sleeps (only a clock-driven limit can stop it)
  passwd       announces `saving checkpoint: /etc/passwd` (and a file in /tmp), then the replay
  big-lora     the replay, but every LoRA it saves holds FAULT_LORA_BYTES of weights (fills a small disk;
               the write fails with sd-scripts' own OSError traceback)
  header-only  the replay, but the final LoRA is cut off right after its header
  hold-state   the replay, stopped for good right after it saved its last state (before the final LoRA):
               what a run killed at its very end leaves
"""

import importlib
import json
import os
import struct
import sys
import time
from pathlib import Path

STANDIN = Path(__file__).resolve().parents[2] / "standin"
sys.path.insert(0, str(STANDIN))

replay = importlib.import_module("replay")  # the stand-in beside tests/ (not a package sd-scripts needs)


def big_lora(path: Path, nan: bool) -> None:
    count = int(os.environ.get("FAULT_LORA_BYTES", str(1 << 20))) // 2
    header = {"lora_unet_x.lora_down.weight": {"dtype": "F16", "shape": [count], "data_offsets": [0, 2 * count]},
              "__metadata__": {"ss_output_name": "shape_lora", "ss_network_dim": "4"}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    remaining, chunk = 2 * count, b"\x66\x2e" * 32768
    with open(path, "wb") as handle:  # like safetensors: header, then the data, in one stream
        handle.write(struct.pack("<Q", len(raw)) + raw)
        while remaining > 0:
            handle.write(chunk[:remaining])
            remaining -= len(chunk)


def header_only(path: Path, nan: bool) -> None:
    original(path, nan)
    if "-step" not in path.name:
        data = path.read_bytes()
        (length,) = struct.unpack("<Q", data[:8])
        path.write_bytes(data[:8 + length])


original = replay.write_lora
original_on_line = replay.on_line


def hold_after_last_state(line: bytes, output_dir: Path, source: Path, nan: bool) -> None:
    original_on_line(line, output_dir, source, nan)
    if line.strip().endswith(b"_lora-state"):
        time.sleep(3600)


def main() -> int:
    mode = os.environ.get("FAULT_TRAINER", "")
    if mode == "flood":
        total, block = int(os.environ.get("FAULT_BYTES", str(300 << 20))), b"x" * (1 << 20)
        while total > 0:
            os.write(1, block[:total])
            total -= len(block)
        os.write(1, b"\n")
    elif mode == "quiet":
        os.close(1)
        os.close(2)
        time.sleep(600)
        return 0
    elif mode == "passwd":
        print("saving checkpoint: /etc/passwd", flush=True)
        print("saving checkpoint: /tmp/outside-of-the-job.safetensors", flush=True)
    elif mode == "big-lora":
        replay.write_lora = big_lora
    elif mode == "header-only":
        replay.write_lora = header_only
    elif mode == "hold-state":
        replay.on_line = hold_after_last_state
    return replay.main()


if __name__ == "__main__":
    sys.exit(main())

"""Find the state folder a job can really resume from, and check that a resumed run loaded it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError


@dataclass(frozen=True)
class ResumePoint:
    """A saved state folder and the global step/epoch it holds."""

    state_dir: Path
    step: int
    epoch: int


def find_resume_point(output_dir: Path) -> ResumePoint:
    """The state folder with the highest step that really exists with its train_state.json.

    sd-scripts writes no numbered state for the last epoch (only <name>-state), and a --resume path that does
    not exist fails only after the model has loaded, so we pick from what is on disk.
    """
    points = []
    for state_file in Path(output_dir).glob("*-state/train_state.json"):
        try:
            values = json.loads(state_file.read_text(encoding="utf-8"))
            points.append(ResumePoint(state_file.parent, int(values["current_step"]), int(values["current_epoch"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not points:
        raise KohyaWrapError(f"No saved state to resume from in {output_dir}.",
                             hint="resume needs saving.save_state=true and at least one checkpoint")
    return max(points, key=lambda point: (point.step, point.state_dir.stat().st_mtime))


def state_loaded(log_tail: bytes) -> tuple[bool, str]:
    """Whether the trainer's own log says it loaded the state (weights and train_state.json)."""
    loaded_train_state = b"load train state from" in log_tail
    loaded_weights = b"All model weights loaded successfully" in log_tail
    if loaded_train_state and loaded_weights:
        return True, "state loaded (weights and train_state.json)"
    missing = [name for name, ok in (("train_state.json", loaded_train_state), ("model weights", loaded_weights))
               if not ok]
    return False, "the trainer never reported loading " + " and ".join(missing)

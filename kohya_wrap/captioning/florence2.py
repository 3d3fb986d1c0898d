"""Florence-2 through transformers' native classes, which exist from transformers 4.56 on.

sd-scripts pins transformers 4.54.1, which has no Florence2ForConditionalGeneration; the older
trust_remote_code checkpoints (microsoft/Florence-2-*) stopped loading with transformers 4.52 and later.
So Florence-2 runs from a separate Python the user sets up (--python or KOHYA_WRAP_CAPTION_PYTHON) with the
converted checkpoints (florence-community/Florence-2-base, -large); the training environment stays as pinned.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .base import CaptionerError, require, to_rgb
from .blip import BlipCaptioner
from .layouts import LAYOUTS

NATIVE_FROM = "4.56"
TASKS = ("<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>")


def unsupported_hint() -> str:
    return ("make a separate environment, e.g. `python3 -m venv ~/florence-env && ~/florence-env/bin/pip install "
            f"torch 'transformers>={NATIVE_FROM}' pillow`, then pass --python ~/florence-env/bin/python "
            "(or set KOHYA_WRAP_CAPTION_PYTHON); the training environment stays as sd-scripts pins it")


def check_supported(folder: Path) -> None:
    transformers = require("transformers", f"transformers>={NATIVE_FROM}", "florence2")
    if not hasattr(transformers, "Florence2ForConditionalGeneration"):
        raise CaptionerError("unsupported", f"Florence-2 needs transformers >= {NATIVE_FROM}; {sys.executable} has "
                             f"transformers {transformers.__version__} (sd-scripts pins 4.54.1, so the backend's "
                             "Python cannot run it).", unsupported_hint())
    if (Path(folder) / "modeling_florence2.py").is_file():
        raise CaptionerError("malformed_model", f"{folder} holds a remote-code Florence-2 checkpoint "
                             "(modeling_florence2.py), which needs trust_remote_code and does not load with current "
                             "transformers.", f"use the converted checkpoint: "
                             f"`{LAYOUTS['florence2'].download_command(folder)}`")


class Florence2Captioner(BlipCaptioner):
    """Florence-2 with a task prompt (default <DETAILED_CAPTION>; <CAPTION>, <MORE_DETAILED_CAPTION>)."""

    captioner = "florence2"
    model_class, processor_class = "Florence2ForConditionalGeneration", "AutoProcessor"

    def __init__(self, model, processor, device, dtype, options):
        super().__init__(model, processor, device, dtype, options)
        self.prompt = options.get("prompt") or "<DETAILED_CAPTION>"
        self.generate_args["num_beams"] = int(options.get("num_beams") or 3)
        self.generate_args.pop("min_new_tokens")

    @classmethod
    def load(cls, folder: Path, options: dict) -> Florence2Captioner:
        check_supported(folder)
        return super().load(folder, options)

    def inputs(self, images: list):
        rgb = [to_rgb(image) for image in images]
        return self.processor(text=[self.prompt] * len(rgb), images=rgb, return_tensors="pt", padding=True)

    def clean(self, text: str) -> str:
        text = " ".join(text.split())
        for task in TASKS:
            text = text.replace(task, "")
        return text.strip()

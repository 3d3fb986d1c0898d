"""The captioner interface: load from a local folder, caption a batch of images (child side, stdlib only here)."""

from __future__ import annotations

import importlib
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

# captioner name -> (module in this package, class); imported only in the child, where the heavy packages are
REGISTRY = {
    "wd14": ("wd14", "WD14Tagger"),
    "blip": ("blip", "BlipCaptioner"),
    "blip2": ("blip", "Blip2Captioner"),
    "florence2": ("florence2", "Florence2Captioner"),
}


class CaptionerError(Exception):
    """A problem the user can fix (model folder, package, version), reported to the parent as an error event."""

    def __init__(self, kind: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.hint = kind, message, hint

    def to_event(self) -> dict:
        return {"type": "error", "kind": self.kind, "message": self.message, "hint": self.hint}


@dataclass
class Caption:
    """One image's result: the text, and for taggers the tags with their scores, best first."""

    text: str
    tags: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"text": self.text, "tags": [[tag, round(float(score), 4)] for tag, score in self.tags]}


class Captioner(ABC):
    """Loaded once per run; caption() gets PIL images as opened (mode untouched) and returns one Caption each."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, options: dict) -> Captioner:
        """Load from a local folder; raise CaptionerError when the folder is not what this captioner reads."""

    @abstractmethod
    def caption(self, images: list) -> list[Caption]:
        """Caption a batch; the result has one entry per image, in order."""

    def describe(self) -> dict:
        """Facts worth showing once (device, input size, vocabulary size)."""
        return {}


def require(module: str, pip_name: str, captioner: str):
    """Import a heavy package the captioner needs, or say how to install it into this interpreter."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise CaptionerError("missing_package", f"The {captioner} captioner needs {pip_name}, which {sys.executable} "
                             f"cannot import ({error}).",
                             f"{sys.executable} -m pip install {pip_name}   (or pick another Python with --python)")


def torch_device(option: str | None) -> str:
    """'auto' -> cuda when torch sees a GPU, else cpu; anything else is used as given."""
    torch = require("torch", "torch", "transformers")
    if option in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return option


def to_rgb(image):
    """RGB with transparency composited onto white (what a captioner should see of a sprite on alpha)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image if image.mode == "RGB" else image.convert("RGB")

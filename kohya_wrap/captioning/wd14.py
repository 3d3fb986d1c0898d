"""WD14-style tagger through onnxruntime: model.onnx + selected_tags.csv, the layout sd-scripts' tagger reads.

Facts restated from sd-scripts' finetune/tag_images_by_wd14_tagger.py (--onnx, SmilingWolf layout):
the input is NHWC float32 in 0-255, BGR, the image padded to a square with white (transparency composited
onto white first) and resized to the model's input size (area when shrinking, Lanczos when enlarging);
the outputs are per-tag probabilities in selected_tags.csv row order; category 9 is rating, 0 general,
4 character; tags longer than 3 characters get underscores replaced by spaces (kaomoji like ^_^ keep
theirs). We keep general and character tags above their thresholds and never rating tags.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .base import Caption, Captioner, CaptionerError, require, to_rgb
from .layouts import LAYOUTS

RATING, GENERAL, CHARACTER = "9", "0", "4"
DEFAULT_SIZE = 448  # sd-scripts' IMAGE_SIZE, used when the model's input size is symbolic


def _malformed(folder: Path, problem: str) -> CaptionerError:
    layout = LAYOUTS["wd14"]
    return CaptionerError("malformed_model", f"{folder} is not a usable WD14 tagger folder: {problem}",
                          f"Expected {layout.expected_text()}; get them with `{layout.download_command(folder)}`.")


def read_tags(path: Path) -> list[tuple[str, str]]:
    """(name, category) per row of selected_tags.csv, in output order."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise _malformed(path.parent, f"cannot read {path.name} ({error})") from None
    if not rows or [cell.strip() for cell in rows[0][:3]] != ["tag_id", "name", "category"]:
        raise _malformed(path.parent, f"{path.name} must start with the header tag_id,name,category,count")
    tags = [(row[1], row[2].strip()) for row in rows[1:] if len(row) >= 3]
    if not tags:
        raise _malformed(path.parent, f"{path.name} lists no tags")
    return tags


def _load_errors(ort) -> tuple:
    """onnxruntime's own exception types for an unreadable or invalid graph (they derive from Exception only)."""
    state = getattr(getattr(ort, "capi", None), "onnxruntime_pybind11_state", None)
    names = ("Fail", "InvalidArgument", "NoSuchFile", "NoModel", "InvalidProtobuf", "InvalidGraph", "RuntimeException",
             "NotImplemented")
    return (RuntimeError, OSError, *(getattr(state, name) for name in names if hasattr(state, name)))


def display_name(tag: str) -> str:
    return tag.replace("_", " ") if len(tag) > 3 else tag


class WD14Tagger(Captioner):
    def __init__(self, session, tags, size: int, fixed_batch: int | None, options: dict):
        self.session, self.tags, self.size, self.fixed_batch = session, tags, size, fixed_batch
        self.input_name = session.get_inputs()[0].name
        general = float(options.get("threshold", 0.35))
        character = options.get("character_threshold")
        self.thresholds = {GENERAL: general, CHARACTER: general if character is None else float(character)}

    @classmethod
    def load(cls, folder: Path, options: dict) -> WD14Tagger:
        ort = require("onnxruntime", "onnxruntime", "wd14")
        require("numpy", "numpy", "wd14")
        folder = Path(folder)
        tags = read_tags(folder / "selected_tags.csv")
        providers = ["CPUExecutionProvider"]
        if options.get("device") != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = ort.InferenceSession(str(folder / "model.onnx"), providers=providers)
        except _load_errors(ort) as error:
            raise _malformed(folder, f"onnxruntime cannot load model.onnx ({str(error)[:300]})") from None
        shape = session.get_inputs()[0].shape
        if len(shape) != 4 or shape[3] != 3:
            raise _malformed(folder, f"model.onnx takes input {shape}, not an NHWC image batch [N, H, W, 3]")
        outputs = session.get_outputs()[0].shape
        if isinstance(outputs[-1], int) and outputs[-1] != len(tags):
            raise _malformed(folder, f"model.onnx scores {outputs[-1]} tags but selected_tags.csv lists {len(tags)}")
        size = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else DEFAULT_SIZE
        fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        return cls(session, tags, size, fixed, options)

    def describe(self) -> dict:
        return {"input_size": self.size, "tags": len(self.tags), "fixed_batch": self.fixed_batch,
                "providers": self.session.get_providers()}

    def preprocess(self, image):
        import numpy as np
        from PIL import Image

        pixels = np.asarray(to_rgb(image))[:, :, ::-1]  # RGB -> BGR
        height, width = pixels.shape[:2]
        side = max(height, width)
        top, left = (side - height) // 2, (side - width) // 2
        pixels = np.pad(pixels, ((top, side - height - top), (left, side - width - left), (0, 0)),
                        mode="constant", constant_values=255)
        method = Image.Resampling.BOX if side >= self.size else Image.Resampling.LANCZOS  # BOX == area average
        resized = Image.fromarray(np.ascontiguousarray(pixels)).resize((self.size, self.size), method)
        return np.asarray(resized, dtype=np.float32)

    def caption(self, images: list) -> list[Caption]:
        import numpy as np

        batch = np.stack([self.preprocess(image) for image in images])
        chunk = self.fixed_batch or len(batch)
        scores = []
        for start in range(0, len(batch), chunk):
            part = batch[start:start + chunk]
            padded = np.concatenate([part, np.zeros((chunk - len(part),) + part.shape[1:], np.float32)])
            scores.append(self.session.run(None, {self.input_name: padded})[0][:len(part)])
        return [self._tags(row) for row in np.concatenate(scores)]

    def _tags(self, scores) -> Caption:
        found = []
        for (name, category), score in zip(self.tags, scores):
            limit = self.thresholds.get(category)
            if limit is not None and score >= limit:  # rating (and other) categories have no threshold
                found.append((display_name(name), float(score)))
        found.sort(key=lambda pair: -pair[1])
        return Caption(", ".join(tag for tag, _ in found), found)

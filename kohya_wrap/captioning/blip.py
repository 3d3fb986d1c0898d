"""BLIP and BLIP-2 captioners through transformers, loaded from a local folder (model + processor)."""

from __future__ import annotations

from pathlib import Path

from .base import Caption, Captioner, CaptionerError, require, to_rgb, torch_device
from .layouts import LAYOUTS


def load_pretrained(captioner: str, folder: Path, model_class: str, processor_class: str, device: str):
    """(model, processor) from folder, local files only; a broken folder is a CaptionerError, not a traceback."""
    transformers = require("transformers", "transformers", captioner)
    torch = require("torch", "torch", captioner)
    layout = LAYOUTS[captioner]
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    # the keyword was torch_dtype until transformers 4.56, dtype after (the old one warns, then goes away)
    dtype_key = "dtype" if _version(transformers.__version__) >= (4, 56) else "torch_dtype"
    try:
        processor = getattr(transformers, processor_class).from_pretrained(str(folder), local_files_only=True)
        model = getattr(transformers, model_class).from_pretrained(str(folder), local_files_only=True,
                                                                     **{dtype_key: dtype})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise CaptionerError("malformed_model", f"Cannot load {layout.what} from {folder}: "
                             f"{type(error).__name__}: {str(error)[:400]}",
                             f"Expected {layout.expected_text()}; get them with "
                             f"`{layout.download_command(folder)}`.") from None
    return model.to(device).eval(), processor, dtype


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


class BlipCaptioner(Captioner):
    """Salesforce BLIP (BlipForConditionalGeneration); an optional prompt starts the caption."""

    captioner = "blip"
    model_class, processor_class = "BlipForConditionalGeneration", "BlipProcessor"

    def __init__(self, model, processor, device: str, dtype, options: dict):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype
        self.prompt = options.get("prompt") or None
        self.generate_args = {"max_new_tokens": int(options.get("max_length") or 75),
                              "min_new_tokens": int(options.get("min_length") or 5),
                              "num_beams": int(options.get("num_beams") or 1), "do_sample": False}

    @classmethod
    def load(cls, folder: Path, options: dict) -> BlipCaptioner:
        device = torch_device(options.get("device"))
        model, processor, dtype = load_pretrained(cls.captioner, Path(folder), cls.model_class,
                                                  cls.processor_class, device)
        return cls(model, processor, device, dtype, options)

    def describe(self) -> dict:
        return {"device": self.device, "dtype": str(self.dtype).replace("torch.", ""),
                "parameters": sum(p.numel() for p in self.model.parameters())}

    def inputs(self, images: list):
        rgb = [to_rgb(image) for image in images]
        if self.prompt:
            return self.processor(images=rgb, text=[self.prompt] * len(rgb), return_tensors="pt", padding=True)
        return self.processor(images=rgb, return_tensors="pt")

    def caption(self, images: list) -> list[Caption]:
        import torch

        batch = self.inputs(images).to(self.device)
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            ids = self.model.generate(**batch, **self.generate_args)
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        return [Caption(self.clean(text)) for text in texts]

    def clean(self, text: str) -> str:
        """One line, without the prompt when the model repeats it."""
        text = " ".join(text.split())
        if self.prompt and text.lower().startswith(self.prompt.strip().lower()):
            text = text[len(self.prompt.strip()):].strip()
        return text


class Blip2Captioner(BlipCaptioner):
    """BLIP-2 (Blip2ForConditionalGeneration, e.g. OPT-2.7b); a prompt like 'Question: ... Answer:' works."""

    captioner = "blip2"
    model_class, processor_class = "Blip2ForConditionalGeneration", "Blip2Processor"


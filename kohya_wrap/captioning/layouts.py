"""The model folder each captioner loads from, and how to get it (stdlib only: the child imports it too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class Layout:
    """Files a model folder must hold: each entry is a group of names, any one of which will do."""

    captioner: str
    what: str
    repo: str  # the Hugging Face repository we suggest (and download from with --allow-download)
    required: tuple[tuple[str, ...], ...]
    download_files: tuple[str, ...] = ()  # empty: the whole repository

    def missing(self, folder: Path) -> list[str]:
        """The required groups not present in folder, each as 'a or b'."""
        folder = Path(folder)
        return [" or ".join(group) for group in self.required
                if not any((folder / name).is_file() for name in group)]

    def download_command(self, folder: Path) -> str:
        files = "".join(f" {name}" for name in self.download_files)
        return f"huggingface-cli download {self.repo}{files} --local-dir {folder}"

    def expected_text(self) -> str:
        return ", ".join(" or ".join(group) for group in self.required)


# transformers 5 saves the image processor's settings inside processor_config.json
_TRANSFORMERS = (("config.json",), WEIGHTS, ("preprocessor_config.json", "processor_config.json"),
                 ("tokenizer_config.json",))

LAYOUTS = {
    # sd-scripts' tagger (finetune/tag_images_by_wd14_tagger.py --onnx) reads exactly these two files
    "wd14": Layout("wd14", "a WD14-style tagger exported to ONNX", "SmilingWolf/wd-swinv2-tagger-v3",
                   (("model.onnx",), ("selected_tags.csv",)), ("model.onnx", "selected_tags.csv")),
    "blip": Layout("blip", "a BLIP captioning model saved by transformers (model + processor)",
                   "Salesforce/blip-image-captioning-large",
                   _TRANSFORMERS + (("vocab.txt", "tokenizer.json"),)),
    "blip2": Layout("blip2", "a BLIP-2 model saved by transformers (model + processor)", "Salesforce/blip2-opt-2.7b",
                    _TRANSFORMERS + (("tokenizer.json", "vocab.json"),)),
    "florence2": Layout("florence2", "a Florence-2 model in transformers' native format (model + processor)",
                        "florence-community/Florence-2-base", _TRANSFORMERS + (("tokenizer.json", "vocab.json"),)),
}

CAPTIONERS = tuple(LAYOUTS)


def default_folder(home: Path, captioner: str) -> Path:
    """Where a captioner's model is looked for when no --model-dir is given."""
    return Path(home) / "captioners" / LAYOUTS[captioner].repo.replace("/", "_")

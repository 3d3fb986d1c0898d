"""LoraGenerator: load an SDXL base and LoRAs once, then generate many images in this process.

For the inference service: the same Engine and seeding as `kohya-wrap generate` / `validate`, so the same settings
give the same image. Needs torch, diffusers and peft importable here (pip install -e '.[train]' plus torch).

Example:
    gen = LoraGenerator("sd_xl_base_1.0.safetensors", {"style": "runs/JOB"})
    image = gen.generate("ohwx, a lighthouse at dusk", seed=7, lora="style", strength=0.8)
    image.save("out.png")
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

from kohya_wrap.artifacts.resolve import resolve_lora
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.validate.settings import GenerationSettings

NEEDED = ("torch", "diffusers", "peft")


def missing_packages() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


class LoraGenerator:
    """One pipeline in memory; LoRAs by name; `generate` returns a PIL image."""

    def __init__(self, base: str | Path, loras: dict[str, str | Path] | list[str | Path] | str | Path | None = None,
                 settings: GenerationSettings | None = None, base_config: str | Path | None = None,
                 threads: int | None = None):
        missing = missing_packages()
        if missing:
            raise KohyaWrapError(f"The in-process generator needs {', '.join(missing)}",
                                 hint="pip install torch diffusers==0.32.1 peft, or use `kohya-wrap generate`, "
                                      "which runs in the backend's python")
        from kohya_wrap.validate._gen_child import Engine
        from kohya_wrap.validate.flow import checked_loras
        from kohya_wrap.validate.run import resolve_base

        self.settings = settings or GenerationSettings()
        base_path, config = resolve_base(base, base_config)
        self._engine = Engine(str(base_path), str(config) if config else None, self.settings.device,
                              self.settings.dtype, threads)
        self.loras: dict[str, dict] = {}
        for name, ref in _named(loras).items():
            checked_loras([str(ref)])
            self.add_lora(name, ref)

    def add_lora(self, name: str, ref: str | Path) -> dict:
        """Load another LoRA (a file or a job folder) under `name`; returns its injected layer counts."""
        if name in self.loras:
            raise KohyaWrapError(f"A LoRA named {name!r} is already loaded")
        info = self._engine.add_lora(name, str(resolve_lora(ref).path))
        self.loras[name] = info
        return info

    def generate_array(self, prompt: str, seed: int = 0, lora: str | None = None, strength: float = 1.0,
                       negative: str = "", **overrides):
        """The image as uint8 HxWx3 numpy array; `overrides` replace fields of the settings for this call."""
        from kohya_wrap.validate._gen_child import to_uint8

        if lora is not None and lora not in self.loras:
            raise KohyaWrapError(f"No LoRA named {lora!r} is loaded", hint=f"loaded: {', '.join(self.loras) or 'none'}")
        settings = replace(self.settings, **overrides) if overrides else self.settings
        image = self._engine.render(prompt, seed, lora, strength, negative, settings.width, settings.height,
                                    settings.steps, settings.cfg, settings.sampler)
        return to_uint8(image)

    def generate(self, prompt: str, seed: int = 0, lora: str | None = None, strength: float = 1.0,
                 negative: str = "", **overrides):
        from PIL import Image

        return Image.fromarray(self.generate_array(prompt, seed, lora, strength, negative, **overrides))

    def generate_many(self, prompt: str, seeds: list[int], **kwargs) -> list:
        return [self.generate(prompt, seed=seed, **kwargs) for seed in seeds]


def _named(loras) -> dict[str, str | Path]:
    if loras is None:
        return {}
    if isinstance(loras, dict):
        return dict(loras)
    items = [loras] if isinstance(loras, (str, Path)) else list(loras)
    return {resolve_lora(item).name: item for item in items}

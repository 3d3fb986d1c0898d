"""Script run in the backend's python: render SDXL images with and without LoRAs, one pipeline loaded once.

Usage: python _gen_child.py SPEC.json
SPEC: {"base", "base_config", "device", "dtype", "threads", "loras": [{"name", "path"}], "clip",
       "renders": [{"id", "prompt", "negative", "seed", "lora", "strength", "width", "height", "steps", "cfg",
                    "sampler", "out"}]}
Writes each image as PNG and one JSON event a line on stdout: loaded, lora, image, clip, done, error.
Imports only the standard library, numpy, torch, diffusers, transformers, safetensors and Pillow: kohya_wrap itself
imports Engine from here for its in-process API, so both render the same image from the same settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "DIFFUSERS_VERBOSITY": "error", "TRANSFORMERS_VERBOSITY": "error"}
PARTS = (("unet", ("lora_unet_",)), ("text_encoder", ("lora_te1_", "lora_te_")), ("text_encoder_2", ("lora_te2_",)))
SAMPLERS = {  # our sampler name -> (diffusers scheduler class, config overrides); settings.py validates names
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_a": ("KDPM2AncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler",
                        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde_karras": ("DPMSolverMultistepScheduler",
                            {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


def file_modules(state_dict: dict) -> dict[str, int]:
    """LoRA modules (those with a lora_down weight) per pipeline part."""
    counts = {part: 0 for part, _ in PARTS}
    for key in state_dict:
        if key.endswith(".lora_down.weight"):
            for part, prefixes in PARTS:
                if key.startswith(prefixes):
                    counts[part] += 1
    return counts


class Engine:
    """One SDXL pipeline, its LoRAs as named adapters, images rendered on a fixed CPU-seeded generator."""

    def __init__(self, base: str, base_config: str | None = None, device: str = "auto", dtype: str = "auto",
                 threads: int | None = None):
        for key, value in OFFLINE.items():
            os.environ.setdefault(key, value)
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.torch = torch
        self.device = self._device(device)
        self.dtype = self._dtype(dtype)
        started = time.time()
        self.pipe = self._load(base, base_config)
        self.pipe.set_progress_bar_config(disable=True)
        self.load_seconds = time.time() - started
        self.scheduler_config = dict(self.pipe.scheduler.config)
        self.sampler = None
        self.adapters: dict[str, str] = {}  # LoRA name -> adapter name (peft forbids dots in adapter names)
        self.lora_enabled = True

    def _device(self, device: str) -> str:
        if device != "auto":
            return device
        if self.torch.cuda.is_available():
            return "cuda"
        mps = getattr(self.torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"

    def _dtype(self, dtype: str):
        torch = self.torch
        if dtype == "auto":
            return torch.float32 if self.device == "cpu" else torch.float16
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]

    def _load(self, base: str, base_config: str | None):
        from diffusers import StableDiffusionXLPipeline

        common = {"torch_dtype": self.dtype, "local_files_only": True, "add_watermarker": False}
        if os.path.isdir(base):
            pipe = StableDiffusionXLPipeline.from_pretrained(base, **common)
        else:
            pipe = StableDiffusionXLPipeline.from_single_file(base, config=base_config, **common)
        pipe = pipe.to(self.device)
        for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
            self._realign(getattr(pipe, part))
        return pipe

    @staticmethod
    def _realign(model, alignment: int = 64) -> None:
        # Weights read straight from a file can sit at any 8-byte offset; CPU matmul kernels take other code paths
        # for unaligned memory and round differently, so the same weights loaded two ways gave different images.
        for tensors in (model.named_parameters(recurse=True), model.named_buffers(recurse=True)):
            for _, tensor in tensors:
                if tensor.device.type == "cpu" and tensor.data_ptr() % alignment:
                    tensor.data = tensor.data.clone()

    def add_lora(self, name: str, path: str) -> dict:
        """Load a kohya-format LoRA as adapter `name`; returns its module counts in the file and injected."""
        from safetensors.torch import load_file

        started = time.time()
        state_dict = load_file(path)
        expected = file_modules(state_dict)
        adapter = f"lora{len(self.adapters)}"
        # a state dict, not a path: diffusers 0.32 treats a bare path as a hub id and fails offline
        self.pipe.load_lora_weights(state_dict, adapter_name=adapter)
        self.adapters[name] = adapter
        injected = {part: self._count_injected(getattr(self.pipe, part), adapter) for part, _ in PARTS}
        return {"name": name, "path": path, "expected": expected, "injected": injected,
                "seconds": round(time.time() - started, 3)}

    @staticmethod
    def _count_injected(model, adapter: str) -> int:
        from peft.tuners.lora import LoraLayer

        return sum(1 for module in model.modules() if isinstance(module, LoraLayer) and adapter in module.lora_A)

    def _activate(self, lora: str | None, strength: float) -> None:
        if lora is None:
            if self.adapters and self.lora_enabled:
                self.pipe.disable_lora()
                self.lora_enabled = False
            return
        if lora not in self.adapters:
            raise ValueError(f"LoRA {lora!r} was not loaded")
        if not self.lora_enabled:
            self.pipe.enable_lora()
            self.lora_enabled = True
        self.pipe.set_adapters([self.adapters[lora]], [float(strength)])

    def _use_sampler(self, sampler: str) -> None:
        if sampler == self.sampler:
            return
        import diffusers

        class_name, overrides = SAMPLERS[sampler]
        self.pipe.scheduler = getattr(diffusers, class_name).from_config(self.scheduler_config, **overrides)
        self.sampler = sampler

    def render(self, prompt: str, seed: int, lora: str | None = None, strength: float = 1.0, negative: str = "",
               width: int = 1024, height: int = 1024, steps: int = 25, cfg: float = 7.0, sampler: str = "euler"):
        """The decoded image as float32 HxWx3 in [0, 1] (NaN stays NaN, so it can be checked)."""
        self._activate(lora, strength)
        self._use_sampler(sampler)
        generator = self.torch.Generator("cpu").manual_seed(int(seed))
        with self.torch.inference_mode():
            result = self.pipe(prompt=prompt, negative_prompt=negative or None, width=width, height=height,
                               num_inference_steps=steps, guidance_scale=cfg, generator=generator, output_type="np")
        return result.images[0].astype("float32")


def to_uint8(image):
    """The same conversion diffusers' numpy_to_pil makes; non-finite values become 0."""
    import numpy

    return (numpy.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0) * 255).round().astype("uint8")


def image_digest(image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def save_png(pixels, path: str) -> None:
    from PIL import Image

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    partial = f"{path}.partial.png"
    Image.fromarray(pixels).save(partial, format="PNG")
    os.replace(partial, path)


def clip_scores(folder: str, items: list[tuple[str, str]], device: str = "cpu") -> list[float]:
    """CLIP score (100 x cosine, floored at 0) of each (image path, prompt) with a local CLIP model folder."""
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(folder, local_files_only=True).to(device).eval()
    processor = CLIPProcessor.from_pretrained(folder, local_files_only=True)
    scores = []
    for path, prompt in items:
        with Image.open(path) as image:
            inputs = processor(text=[prompt], images=image.convert("RGB"), return_tensors="pt", padding=True,
                               truncation=True)
        with torch.inference_mode():
            out = model(**{k: v.to(device) for k, v in inputs.items()})
        cosine = torch.nn.functional.cosine_similarity(out.image_embeds, out.text_embeds).item()
        scores.append(round(max(100.0 * cosine, 0.0), 4))
    return scores


def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(spec: dict, emit) -> None:
    import numpy

    started = time.time()
    engine = Engine(spec["base"], spec.get("base_config"), spec.get("device", "auto"), spec.get("dtype", "auto"),
                    spec.get("threads"))
    emit({"type": "loaded", "seconds": round(engine.load_seconds, 3), "device": engine.device,
          "dtype": str(engine.dtype).replace("torch.", "")})
    for lora in spec.get("loras", []):
        emit({"type": "lora", **engine.add_lora(lora["name"], lora["path"])})
    renders = spec["renders"]
    for index, item in enumerate(renders):
        begun = time.time()
        image = engine.render(item["prompt"], item["seed"], item.get("lora"), item.get("strength", 1.0),
                              item.get("negative", ""), item["width"], item["height"], item["steps"], item["cfg"],
                              item["sampler"])
        pixels = to_uint8(image)
        save_png(pixels, item["out"])
        emit({"type": "image", "id": item["id"], "index": index + 1, "total": len(renders), "path": item["out"],
              "seconds": round(time.time() - begun, 4), "finite": bool(numpy.isfinite(image).all()),
              "sha256": image_digest(image)})
    if spec.get("clip"):
        scores = clip_scores(spec["clip"], [(item["out"], item["prompt"]) for item in renders], engine.device)
        for item, score in zip(renders, scores):
            emit({"type": "clip", "id": item["id"], "score": score})
    emit({"type": "done", "images": len(renders), "seconds": round(time.time() - started, 3),
          "load_seconds": round(engine.load_seconds, 3), "peak_rss_mb": peak_rss_mb()})


def main(argv: list[str]) -> int:
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr; stdout carries only our events

    def emit(event: dict) -> None:
        events.write(json.dumps({**event, "t": round(time.time(), 3)}) + "\n")

    try:
        with open(argv[1], encoding="utf-8") as handle:
            spec = json.load(handle)
        run(spec, emit)
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the boundary of the child: every failure becomes one error event for the parent
        emit({"type": "error", "kind": type(error).__name__, "message": str(error)[:4000]})
        import traceback

        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

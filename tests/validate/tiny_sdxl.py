"""A tiny random-initialised SDXL-shaped pipeline and an sd-scripts-format LoRA for it, built offline.

The U-Net keeps SDXL's block layout (DownBlock2D + 2 CrossAttnDownBlock2D, two layers per block, a cross-attention
mid block, text_time added embeddings) at small widths, so sd-scripts' LoRA key names apply unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

TE1_HIDDEN = 32
TE2_HIDDEN = 48  # differs from TE1_HIDDEN as in SDXL (768 / 1280): diffusers tells the encoders apart by width
TIME_EMBED = 8
SIZE = 64

# sd-scripts' LoRA targets: Linear / 1x1 Conv inside these modules (networks/lora.py LoRANetwork).
UNET_TARGETS = ("Transformer2DModel",)
TE_TARGETS = ("CLIPAttention", "CLIPSdpaAttention", "CLIPMLP")


def _bytes_to_unicode() -> dict[int, str]:
    # CLIP's byte-level alphabet: printable bytes map to themselves, the rest to code points from 256 up.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def write_tokenizer(folder: Path, pad_token: str) -> int:
    """A character-level CLIP BPE tokenizer (no merges); returns its vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = sorted(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for char in chars:
        vocab[char] = len(vocab)
    for char in chars:
        vocab[char + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": pad_token, "do_lower_case": True,
        "tokenizer_class": "CLIPTokenizer"}), encoding="utf-8")
    return len(vocab)


def _text_config(vocab_size: int, hidden: int, layers: int, act: str):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2,
                          num_hidden_layers=layers, num_attention_heads=2, max_position_embeddings=77,
                          hidden_act=act, projection_dim=hidden, pad_token_id=1, bos_token_id=vocab_size - 2,
                          eos_token_id=vocab_size - 1)


def unet_config() -> dict:
    return {
        "sample_size": SIZE // 8, "in_channels": 4, "out_channels": 4,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "block_out_channels": [32, 64, 128], "layers_per_block": 2, "transformer_layers_per_block": [1, 1, 2],
        "attention_head_dim": [2, 2, 4], "cross_attention_dim": TE1_HIDDEN + TE2_HIDDEN, "norm_num_groups": 8,
        "use_linear_projection": True, "addition_embed_type": "text_time",
        "addition_time_embed_dim": TIME_EMBED, "projection_class_embeddings_input_dim": TE2_HIDDEN + 6 * TIME_EMBED,
    }


def build_pipeline(seed: int = 0):
    """The tiny StableDiffusionXLPipeline, random weights from `seed`."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as scratch:
        size = write_tokenizer(Path(scratch) / "tok", "<|endoftext|>")
        write_tokenizer(Path(scratch) / "tok2", "!")
        tokenizer = CLIPTokenizer.from_pretrained(Path(scratch) / "tok")
        tokenizer_2 = CLIPTokenizer.from_pretrained(Path(scratch) / "tok2")
    unet = UNet2DConditionModel(**unet_config())
    vae = AutoencoderKL(block_out_channels=[8, 16, 16, 16], down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2,
                        norm_num_groups=4, sample_size=SIZE, scaling_factor=0.13025)
    text_encoder = CLIPTextModel(_text_config(size, TE1_HIDDEN, 2, "quick_gelu"))
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(size, TE2_HIDDEN, 10, "gelu"))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       num_train_timesteps=1000, steps_offset=1, timestep_spacing="leading")
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler)


def save_pipeline(folder: Path, seed: int = 0) -> Path:
    pipe = build_pipeline(seed)
    pipe.save_pretrained(folder)
    return folder


def parameter_count(pipe) -> int:
    return sum(p.numel() for part in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2)
               for p in part.parameters())


def to_sgm(name: str, layers_per_block: int = 2) -> str:
    """A diffusers U-Net module path in the original (SGM) layout sd-scripts names LoRA modules by."""
    parts = name.split(".")
    step = layers_per_block + 1
    if parts[0] == "down_blocks":
        level, kind, index = int(parts[1]), parts[2], int(parts[3])
        if kind == "downsamplers":
            return ".".join(["input_blocks", str(step * (level + 1)), "0", "op", *parts[5:]])
        slot = {"resnets": "0", "attentions": "1"}[kind]
        return ".".join(["input_blocks", str(1 + step * level + index), slot, *parts[4:]])
    if parts[0] == "mid_block":
        kind, index = parts[1], int(parts[2])
        block = {("resnets", 0): "0", ("attentions", 0): "1", ("resnets", 1): "2"}[(kind, index)]
        return ".".join(["middle_block", block, *parts[3:]])
    if parts[0] == "up_blocks":
        level, kind, index = int(parts[1]), parts[2], int(parts[3])
        if kind == "upsamplers":
            return ".".join(["output_blocks", str(step * level + step - 1), "2", *parts[4:]])
        slot = {"resnets": "0", "attentions": "1"}[kind]
        return ".".join(["output_blocks", str(step * level + index), slot, *parts[4:]])
    return name


def lora_modules(pipe) -> dict[str, tuple[int, int, tuple[int, ...]]]:
    """sd-scripts' LoRA module names for this pipeline -> (in, out, kernel) of the wrapped layer."""
    import torch

    found = {}
    parts = (("lora_unet", pipe.unet, UNET_TARGETS, True), ("lora_te1", pipe.text_encoder, TE_TARGETS, False),
             ("lora_te2", pipe.text_encoder_2, TE_TARGETS, False))
    for prefix, model, targets, is_unet in parts:
        for parent_name, parent in model.named_modules():
            if parent.__class__.__name__ not in targets:
                continue
            for child_name, child in parent.named_modules():
                is_linear = isinstance(child, torch.nn.Linear)
                is_conv1 = isinstance(child, torch.nn.Conv2d) and child.kernel_size == (1, 1)
                if not child_name or not (is_linear or is_conv1):
                    continue
                path = f"{parent_name}.{child_name}"
                if is_unet:
                    path = to_sgm(path)
                shape = (child.in_features, child.out_features, ()) if is_linear else \
                    (child.in_channels, child.out_channels, (1, 1))
                found[f"{prefix}_{path.replace('.', '_')}"] = shape
    return found


def make_lora(pipe, path: Path, rank: int = 4, alpha: float = 4.0, seed: int = 1, scale: float = 0.5,
              up_scale: float | None = None, metadata: dict | None = None) -> dict[str, tuple]:
    """Write an sd-scripts-format LoRA (lora_down / lora_up / alpha; random up weights unless up_scale is 0)."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    modules = lora_modules(pipe)
    tensors = {}
    for name, (fan_in, fan_out, kernel) in modules.items():
        down = torch.randn(rank, fan_in, *kernel, generator=generator) * scale
        up = torch.randn(fan_out, rank, *kernel, generator=generator) * (scale if up_scale is None else up_scale)
        tensors[f"{name}.lora_down.weight"] = down.to(torch.float16)
        tensors[f"{name}.lora_up.weight"] = up.to(torch.float16)
        tensors[f"{name}.alpha"] = torch.tensor(alpha, dtype=torch.float16)
    info = {"ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(alpha),
            "ss_base_model_version": "sdxl_base_v1-0", "ss_output_name": path.stem}
    save_file(tensors, str(path), metadata={**info, **(metadata or {})})
    return modules


def save_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny CLIP model folder (CLIPModel + processor) as a user's local CLIP would be saved."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(seed)
    size = write_tokenizer(folder / "_tokenizer", "<|endoftext|>")
    config = CLIPConfig(
        text_config={"vocab_size": size, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 77, "bos_token_id": size - 2,
                     "eos_token_id": size - 1},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "_tokenizer")
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    processor.save_pretrained(folder)
    return folder

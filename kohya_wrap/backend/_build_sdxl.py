"""Script run in the backend's python: write a random-initialised full-size SDXL checkpoint.

Usage: python _build_sdxl.py SD_SCRIPTS_ROOT OUTPUT.safetensors [SEED]
Prints one line per phase, then one JSON line with the result. Never imported by kohya-wrap itself.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time


def _text_config(hidden: int, layers: int, heads: int, act: str):
    from transformers import CLIPTextConfig

    # The same values sd-scripts' own loader (library/sdxl_model_util.py) builds its text encoders with.
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        hidden_act=act,
        layer_norm_eps=1e-05,
        dropout=0.0,
        attention_dropout=0.0,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        projection_dim=hidden,
    )


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def build(root: str, output: str, seed: int) -> dict:
    sys.path.insert(0, root)
    os.chdir(root)
    import torch
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from library import model_util, sdxl_model_util, sdxl_original_unet

    started = time.time()
    torch.manual_seed(seed)
    half = torch.float16
    # Each part is built in fp32 (the usual init path) and halved at once so only one fp32 part is alive.
    unet = sdxl_original_unet.SdxlUNet2DConditionModel().to(half)
    print(f"built U-Net ({_count(unet):,} parameters) at {time.time() - started:.1f}s", flush=True)
    text1 = CLIPTextModel(_text_config(768, 12, 12, "quick_gelu")).to(half)
    text2 = CLIPTextModelWithProjection(_text_config(1280, 32, 20, "gelu")).to(half)
    print(f"built text encoders ({_count(text1):,} + {_count(text2):,}) at {time.time() - started:.1f}s", flush=True)
    vae = AutoencoderKL(**model_util.create_vae_diffusers_config()).to(half)
    print(f"built VAE ({_count(vae):,}) at {time.time() - started:.1f}s", flush=True)
    logit_scale = torch.tensor(math.log(1 / 0.07), dtype=half)
    metadata = {"kohya_wrap_smoke": "random-init", "kohya_wrap_seed": str(seed)}
    partial = os.path.join(os.path.dirname(output), f".{os.path.basename(output)}.{os.getpid()}.partial.safetensors")
    with torch.no_grad():
        keys = sdxl_model_util.save_stable_diffusion_checkpoint(
            partial, text1, text2, unet, 0, 0, None, vae, logit_scale, metadata, save_dtype=None
        )
    os.replace(partial, output)
    return {
        "path": output,
        "tensors": keys,
        "bytes": os.path.getsize(output),
        "seed": seed,
        "parameters": {"unet": _count(unet), "text_encoder_1": _count(text1),
                       "text_encoder_2": _count(text2), "vae": _count(vae)},
        "seconds": round(time.time() - started, 1),
    }


def main() -> None:
    root, output = sys.argv[1], os.path.abspath(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1234
    print(json.dumps(build(root, output, seed)), flush=True)


if __name__ == "__main__":
    main()

"""Script run in the backend's python: list every LoRA-able layer of SDXL under the loaders' names.

Usage: python _list_sdxl_modules.py SD_SCRIPTS_ROOT OUTPUT.json
Builds sd-scripts' SDXL U-Net, diffusers' SDXL U-Net and both CLIP text encoders on the meta device (no memory,
no weights) and writes {lora name: [in, out, kernel_h, kernel_w, group]} for Linear and Conv2d layers.
kohya_wrap/artifacts/sdxl_modules.json is this script's output; keys.py reads it. Never imported by kohya-wrap.
"""

from __future__ import annotations

import json
import os
import sys

# sd-scripts' default LoRA wraps these (networks/lora.py); conv 3x3 layers need conv_dim; the rest only LyCORIS.
ATTENTION_PARENTS = ("Transformer2DModel",)
CONV_PARENTS = ("ResnetBlock2D", "Downsample2D", "Upsample2D")
TEXT_PARENTS = ("CLIPAttention", "CLIPSdpaAttention", "CLIPMLP")


def _text_config(hidden: int, layers: int, heads: int, act: str):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=hidden * 4, num_hidden_layers=layers,
                          num_attention_heads=heads, max_position_embeddings=77, hidden_act=act, projection_dim=hidden)


def _group_of(parents: list[str], is_text: bool) -> str:
    if is_text:
        return "text" if any(p in TEXT_PARENTS for p in parents) else "other"
    if any(p in ATTENTION_PARENTS for p in parents):
        return "attention"
    if any(p in CONV_PARENTS for p in parents):
        return "conv"
    return "other"


def list_layers(model, prefix: str, is_text: bool) -> dict[str, list]:
    import torch

    classes = {name: module.__class__.__name__ for name, module in model.named_modules()}
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            shape = [module.in_features, module.out_features, 0, 0]
        elif isinstance(module, torch.nn.Conv2d):
            shape = [module.in_channels, module.out_channels, *module.kernel_size]
        else:
            continue
        pieces = name.split(".")
        parents = [classes[".".join(pieces[:i])] for i in range(1, len(pieces))]
        found[f"{prefix}_{name.replace('.', '_')}"] = shape + [_group_of(parents, is_text)]
    return found


def build(root: str) -> dict:
    sys.path.insert(0, root)
    os.chdir(root)
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from library import sdxl_model_util, sdxl_original_unet

    with torch.device("meta"):
        sgm_unet = sdxl_original_unet.SdxlUNet2DConditionModel()
        diffusers_unet = UNet2DConditionModel(**sdxl_model_util.DIFFUSERS_SDXL_UNET_CONFIG)
        text1 = CLIPTextModel(_text_config(768, 12, 12, "quick_gelu"))
        text2 = CLIPTextModelWithProjection(_text_config(1280, 32, 20, "gelu"))
    return {
        "about": "SDXL layers a LoRA can patch, by LoRA module name: [in, out, kernel_h, kernel_w (0 = Linear), group]."
                 " Written by kohya_wrap/artifacts/_list_sdxl_modules.py from sd-scripts' and diffusers' models.",
        "unet": list_layers(sgm_unet, "lora_unet", False),
        "unet_diffusers": list_layers(diffusers_unet, "lora_unet", False),
        "te1": list_layers(text1, "lora_te1", True),
        "te2": list_layers(text2, "lora_te2", True),
    }


def main() -> None:
    root, output = sys.argv[1], sys.argv[2]
    table = build(root)
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(table, handle, indent=0, sort_keys=True)
        handle.write("\n")
    print(json.dumps({name: len(value) for name, value in table.items() if isinstance(value, dict)}))


if __name__ == "__main__":
    main()

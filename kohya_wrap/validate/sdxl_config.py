"""A diffusers config folder for SDXL base 1.0 (configs and tokenizers, no weights), written offline.

diffusers' from_single_file needs one to build the pipeline around a single-file checkpoint; without it, it tries to
download stabilityai/stable-diffusion-xl-base-1.0's configs. The values are SDXL base 1.0's published configs (the
U-Net's as sd-scripts' library/sdxl_model_util.py states them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.fileio import write_text_atomic

FOLDER_NAME = "sdxl-base-1.0-config"
VERSION = 1  # bump when a value below changes, so cached folders are rewritten

UNET = {
    "_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280], "center_input_sample": False, "class_embed_type": None,
    "class_embeddings_concat": False, "conv_in_kernel": 3, "conv_out_kernel": 3, "cross_attention_dim": 2048,
    "cross_attention_norm": None, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1, "dual_cross_attention": False, "encoder_hid_dim": None, "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_only_cross_attention": None, "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05, "norm_num_groups": 32, "num_attention_heads": None, "num_class_embeds": None,
    "only_cross_attention": False, "out_channels": 4, "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0, "resnet_skip_time_act": False, "resnet_time_scale_shift": "default",
    "sample_size": 128, "time_cond_proj_dim": None, "time_embedding_act_fn": None, "time_embedding_dim": None,
    "time_embedding_type": "positional", "timestep_post_act": None, "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": False,
    "use_linear_projection": True,
}
VAE = {
    "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
    "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True,
}
SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "clip_sample": False, "interpolation_type": "linear",
    "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None,
    "use_karras_sigmas": False,
}
MODEL_INDEX = {
    "_class_name": "StableDiffusionXLPipeline", "force_zeros_for_empty_prompt": True, "add_watermarker": None,
    "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
# (folder, architecture, hidden, layers, heads, activation); token ids as the published CLIP text configs give them
TEXT_ENCODERS = (("text_encoder", "CLIPTextModel", 768, 12, 12, "quick_gelu"),
                 ("text_encoder_2", "CLIPTextModelWithProjection", 1280, 32, 20, "gelu"))
# tokenizer folder -> (tokenizer cache folder, pad token); SDXL's second tokenizer pads with "!" (token id 0)
TOKENIZERS = {"tokenizer": ("openai_clip-vit-large-patch14", "<|endoftext|>"),
              "tokenizer_2": ("laion_CLIP-ViT-bigG-14-laion2B-39B-b160k", "!")}


def text_encoder_config(architecture: str, hidden: int, layers: int, heads: int, act: str) -> dict:
    return {
        "architectures": [architecture], "model_type": "clip_text_model", "vocab_size": 49408,
        "hidden_size": hidden, "intermediate_size": hidden * 4, "num_hidden_layers": layers,
        "num_attention_heads": heads, "max_position_embeddings": 77, "hidden_act": act, "layer_norm_eps": 1e-05,
        "projection_dim": hidden, "attention_dropout": 0.0, "dropout": 0.0, "initializer_factor": 1.0,
        "initializer_range": 0.02, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
    }


def config_files() -> dict[str, dict]:
    files = {"model_index.json": MODEL_INDEX, "unet/config.json": UNET, "vae/config.json": VAE,
             "scheduler/scheduler_config.json": SCHEDULER}
    for folder, *spec in TEXT_ENCODERS:
        files[f"{folder}/config.json"] = text_encoder_config(*spec)
    return files


def sdxl_config_dir(target: Path | None = None, tokenizer_cache: Path | None = None) -> Path:
    """The SDXL base config folder, written (once per VERSION) with the offline CLIP tokenizers."""
    target = Path(target or paths.cache_dir() / "validate" / FOLDER_NAME)
    stamp = target / ".kohya-wrap-version"
    if stamp.is_file() and stamp.read_text().strip() == str(VERSION):
        return target
    if tokenizer_cache is None:
        from kohya_wrap.backend.tokenizers import ensure_tokenizer_cache

        tokenizer_cache = ensure_tokenizer_cache()
    for name, data in config_files().items():
        write_text_atomic(target / name, json.dumps(data, indent=2) + "\n")
    for folder, (cached, pad) in TOKENIZERS.items():
        _copy_tokenizer(Path(tokenizer_cache) / cached, target / folder, pad)
    write_text_atomic(stamp, f"{VERSION}\n")
    return target


def _copy_tokenizer(source: Path, target: Path, pad_token: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(source / name, target / name)
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["pad_token"] = pad_token
    config.pop("added_tokens_decoder", None)  # rebuilt from vocab.json; keeping it would pin the old pad token
    write_text_atomic(target / "tokenizer_config.json", json.dumps(config, indent=2) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": pad_token}
    write_text_atomic(target / "special_tokens_map.json", json.dumps(special, indent=2) + "\n")

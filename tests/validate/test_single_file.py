"""Single-file checkpoints (sd-scripts' own save format) and the offline SDXL config folder around them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kohya_wrap.validate.sdxl_config import TEXT_ENCODERS, UNET, sdxl_config_dir
from tests.conftest import FIXTURES
from tests.validate.conftest import PYTHON

# Runs in the backend's python: save the tiny pipeline the way sd-scripts saves an SDXL checkpoint.
TO_SINGLE_FILE = r"""
import sys, torch
root, folder, same_folder, out = sys.argv[1:5]
sys.path.insert(0, root)
from library import sdxl_model_util
from diffusers import StableDiffusionXLPipeline
pipe = StableDiffusionXLPipeline.from_pretrained(folder)
with torch.no_grad():
    # sd-scripts stores text_projection as the Linear weight, diffusers reads it transposed (OpenCLIP's layout);
    # a symmetric matrix makes both readings agree, so the images can be compared bit for bit
    weight = pipe.text_encoder_2.text_projection.weight
    weight.copy_((weight + weight.T) / 2)
pipe.save_pretrained(same_folder)
class Unet:
    def __init__(self, sd): self.sd = sd
    def state_dict(self): return self.sd
unet = Unet(sdxl_model_util.convert_diffusers_unet_state_dict_to_sdxl(pipe.unet.state_dict()))
sdxl_model_util.save_stable_diffusion_checkpoint(out, pipe.text_encoder, pipe.text_encoder_2, unet, 0, 0, None,
                                                 pipe.vae, torch.tensor(4.6), {}, save_dtype=None)
"""


def test_sdxl_config_folder_is_complete_and_offline(tmp_path):
    folder = sdxl_config_dir(tmp_path / "cfg", tokenizer_cache=FIXTURES / "clip-tokenizers")
    names = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert {"model_index.json", "unet/config.json", "vae/config.json", "scheduler/scheduler_config.json",
            "text_encoder/config.json", "text_encoder_2/config.json", "tokenizer/vocab.json",
            "tokenizer_2/merges.txt"} <= names
    assert json.loads((folder / "tokenizer_2" / "special_tokens_map.json").read_text())["pad_token"] == "!"
    assert json.loads((folder / "vae" / "config.json").read_text())["scaling_factor"] == 0.13025
    # written once: a second call reuses the folder
    stamp = (folder / ".kohya-wrap-version").stat().st_mtime_ns
    assert sdxl_config_dir(tmp_path / "cfg") == folder and (folder / ".kohya-wrap-version").stat().st_mtime_ns == stamp


def test_sdxl_config_builds_the_layers_the_key_table_names(tmp_path):
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    transformers = pytest.importorskip("transformers")
    from kohya_wrap.artifacts.keys import sdxl_table

    folder = sdxl_config_dir(tmp_path / "cfg", tokenizer_cache=FIXTURES / "clip-tokenizers")
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel.from_config(diffusers.UNet2DConditionModel.load_config(folder / "unet"))
    layers = {f"lora_unet_{name.replace('.', '_')}" for name, m in unet.named_modules()
              if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}
    assert layers == set(sdxl_table()["unet_diffusers"])
    with torch.device("meta"):
        vae = diffusers.AutoencoderKL.from_config(diffusers.AutoencoderKL.load_config(folder / "vae"))
        encoders = [getattr(transformers, architecture)(transformers.CLIPTextConfig.from_pretrained(folder / name))
                    for name, architecture, *_ in TEXT_ENCODERS]
    # SDXL base 1.0's published parameter counts
    counts = [sum(p.numel() for p in model.parameters()) for model in (unet, vae, *encoders)]
    assert counts == [2_567_463_684, 83_653_863, 123_060_480, 694_659_840]
    for name, architecture, hidden, layers_count, _, _ in TEXT_ENCODERS:
        config = transformers.CLIPTextConfig.from_pretrained(folder / name)
        assert (config.hidden_size, config.num_hidden_layers) == (hidden, layers_count)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(folder / "tokenizer_2")
    assert tokenizer.pad_token_id == 0 and tokenizer("a cat").input_ids[0] == 49406
    assert UNET["transformer_layers_per_block"] == [1, 2, 10]


@pytest.mark.backend
def test_a_single_file_checkpoint_renders_like_its_diffusers_folder(tiny, small_settings, tmp_path, sd_scripts_root):
    from kohya_wrap.validate.flow import generate
    from kohya_wrap.validate.settings import Prompt

    same, single = tmp_path / "same", tmp_path / "tiny.safetensors"
    subprocess.run([PYTHON, "-c", TO_SINGLE_FILE, str(sd_scripts_root), str(tiny.base), str(same), str(single)],
                   check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    keys = json.loads(single.read_bytes()[8:8 + int.from_bytes(single.read_bytes()[:8], "little")])
    assert any(k.startswith("model.diffusion_model.input_blocks.4.1.") for k in keys)
    prompt = Prompt("shape, a red circle")
    from_file = generate(str(tiny.final), prompt, [1, 2], 1.0, small_settings, tmp_path / "a", base=str(single),
                         base_config=str(same), python=PYTHON)
    from_folder = generate(str(tiny.final), prompt, [1, 2], 1.0, small_settings, tmp_path / "b", base=str(same),
                           python=PYTHON)
    assert [i["sha256"] for i in from_file] == [i["sha256"] for i in from_folder]
    assert Path(from_file[0]["path"]).read_bytes() == Path(from_folder[0]["path"]).read_bytes()

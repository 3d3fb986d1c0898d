"""Script run in the backend's python: trace one SDXL LoRA training step on the meta device.

Usage: python _trace_child.py SD_SCRIPTS_ROOT SPECS.json (a list of kohya_wrap.estimate.trace.trace_spec dicts).
For each spec: sd-scripts' own SDXL U-Net (+ text encoders / VAE when they sit on the GPU), no weights, with the
LoRA network attached, runs one forward + backward at the spec's size, batch and precision; the peak of live
tensor storage and the FLOPs are measured. Progress: JSON lines on stderr; result: one JSON object on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import weakref

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "fp8": "float8_e4m3fn"}
ALLOC_ROUND = 512  # the CUDA caching allocator rounds every block up to a multiple of 512 bytes


def emit(kind: str, **fields) -> None:
    sys.stderr.write(json.dumps({"type": kind, "t": time.time(), **fields}) + "\n")
    sys.stderr.flush()


def dtype(name: str):
    import torch

    return getattr(torch, DTYPES[name])


def make_tracker():
    """A dispatch mode that counts the bytes of every live tensor storage and keeps the high-water mark."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class LiveBytes(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.sizes: dict[int, int] = {}
            self.current = self.peak = 0

        def add(self, tensor) -> None:
            storage = tensor.untyped_storage()
            key = id(storage)
            if key in self.sizes:
                return
            size = -(-storage.nbytes() // ALLOC_ROUND) * ALLOC_ROUND
            self.sizes[key] = size
            self.current += size
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._release, key)

        def _release(self, key: int) -> None:
            self.current -= self.sizes.pop(key, 0)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for item in tree_leaves(out):
                if isinstance(item, torch.Tensor):
                    self.add(item)
            return out

    return LiveBytes()


def make_autocast(compute: str | None):
    """torch.autocast's casting rules as a function mode: the meta device has no autocast of its own."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    low = {F.linear, F.conv1d, F.conv2d, F.conv_transpose2d, torch.matmul, torch.Tensor.matmul,
           torch.Tensor.__matmul__, torch.bmm, torch.Tensor.bmm, torch.baddbmm, torch.Tensor.baddbmm,
           torch.addmm, torch.mm, torch.einsum, F.scaled_dot_product_attention}
    wide = {F.group_norm, F.layer_norm, F.softmax, torch.softmax, torch.Tensor.softmax, F.log_softmax,
            F.mse_loss, torch.exp, torch.Tensor.exp, torch.pow, torch.Tensor.pow}

    class Autocast(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.cache: dict[int, object] = {}
            self.caching = True  # like autocast, casts of trainable leaves are kept until the forward ends
            self.enabled = True

        def cast(self, value, target):
            if not (isinstance(value, torch.Tensor) and value.is_floating_point()) or value.dtype == target:
                return value
            if self.caching and value.is_leaf and value.requires_grad:
                if id(value) not in self.cache:
                    self.cache[id(value)] = value.to(target)
                return self.cache[id(value)]
            return value.to(target)

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            on = compute and self.enabled
            target = dtype(compute) if on and func in low else torch.float32 if on and func in wide else None
            if target is not None:
                args = tuple(self.cast(a, target) for a in args)
                kwargs = {k: self.cast(v, target) for k, v in kwargs.items()}
            if func is F.scaled_dot_product_attention:
                return fused_attention(*args, **kwargs)
            return func(*args, **kwargs)

    return Autocast()


def fused_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
    """What SDPA runs on a GPU: flash attention for half precision, else the memory-efficient kernel."""
    import torch

    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    if q.dtype in (torch.float16, torch.bfloat16) and attn_mask is None and q.shape[-1] <= 256:
        return torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, dropout_p, is_causal, False, scale=scale)[0]
    if attn_mask is not None:  # only its size matters here: any mask becomes an additive bias of full shape
        attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).expand(*q.shape[:3], k.shape[2])
    return torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, attn_mask, grad, dropout_p, is_causal,
                                                                  scale=scale)[0]


def build_unet(spec):
    import torch
    from library import sdxl_original_unet

    with torch.device("meta"):
        unet = sdxl_original_unet.SdxlUNet2DConditionModel()
    unet.to(dtype(spec["unet_dtype"]))
    if spec["attention"] == "mem_eff":
        unet.set_use_memory_efficient_attention(False, True)
    elif spec["attention"] in ("sdpa", "xformers"):  # xformers' kernel is memory-efficient attention too
        unet.set_use_sdpa(True)
    return unet


def build_text_encoders(spec):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def config(hidden, layers, heads, act):
        # The values sd-scripts' loader (library/sdxl_model_util.py) builds SDXL's text encoders with.
        return CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=hidden * 4,
                              num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
                              hidden_act=act, layer_norm_eps=1e-05, projection_dim=hidden, attn_implementation="sdpa")

    with torch.device("meta"):
        encoders = [CLIPTextModel(config(768, 12, 12, "quick_gelu")),
                    CLIPTextModelWithProjection(config(1280, 32, 20, "gelu"))]
    for encoder in encoders:
        encoder.to(dtype(spec["te_dtype"]))
        if spec["te_dtype"] == "fp8":  # sd-scripts keeps the embeddings in the compute dtype (fp8 has no gather)
            encoder.text_model.embeddings.to(dtype(spec["compute"] or "bf16"))
    return encoders


def build_vae(spec):
    import torch
    from diffusers import AutoencoderKL
    from library import model_util

    with torch.device("meta"):
        vae = AutoencoderKL(**model_util.create_vae_diffusers_config())
    return vae.to(dtype(spec["vae_dtype"]))


def build_network(spec, unet, encoders):
    import importlib

    import torch

    module = importlib.import_module(spec["network_module"])
    with torch.device("meta"):
        network = module.create_network(1.0, spec["network_dim"], spec["network_alpha"], None, encoders or [], unet,
                                        **spec.get("network_args", {}))
    network.apply_to(encoders or [], unet, apply_text_encoder=spec["train_text_encoder"], apply_unet=True)
    network.to(dtype(spec["lora_dtype"]))
    return network


def text_conditions(spec, encoders, cast):
    """SDXL's two CLIP encoders on token ids, or their cached outputs when caching is on."""
    import torch

    batch, tokens = spec["batch"], 77 * spec["token_chunks"]
    if not encoders:
        half = dtype(spec["compute"] or "fp32")
        shapes = [(batch, tokens, 768), (batch, tokens, 1280), (batch, 1280)]
        return [torch.empty(s, device="meta", dtype=half, requires_grad=spec["gradient_checkpointing"]) for s in shapes]
    ids = torch.zeros(batch * spec["token_chunks"], 77, dtype=torch.long, device="meta")
    with torch.set_grad_enabled(spec["train_text_encoder"]):
        first = encoders[0](ids, output_hidden_states=True, return_dict=True)["hidden_states"][11]
        out = encoders[1](ids, output_hidden_states=True, return_dict=True)
        second = out["hidden_states"][-2]
        pooled = encoders[1].text_projection(out["last_hidden_state"][:, -1])
    cast.caching = False
    return [first.reshape(batch, tokens, 768), second.reshape(batch, tokens, 1280), pooled[::spec["token_chunks"]]]


def training_step(spec, unet, encoders, vae, cast):
    """One step as sd-scripts' train_network.py runs it: latents, text conditions, U-Net, MSE loss, backward."""
    import torch

    batch, height, width = spec["batch"], spec["height"] // 8, spec["width"] // 8
    if vae is not None:
        cast.enabled = False  # sd-scripts encodes outside accelerator.autocast(), in the VAE's own dtype
        with torch.no_grad():
            images = torch.empty(batch, 3, spec["height"], spec["width"], device="meta", dtype=vae.dtype)
            latents = vae.encode(images).latent_dist.sample().float() * 0.13025
    else:
        latents = torch.empty(batch, 4, height, width, device="meta")
    cast.enabled = True
    conds = text_conditions(spec, encoders, cast)
    cast.caching = True
    noisy = (latents + torch.randn_like(latents)).requires_grad_(True)
    compute = dtype(spec["compute"] or "fp32")
    context = torch.cat([conds[0], conds[1]], dim=2).to(compute)
    vector = torch.cat([conds[2], torch.empty(batch, 1536, device="meta", dtype=conds[2].dtype)], dim=1).to(compute)
    timesteps = torch.zeros(batch, dtype=torch.long, device="meta")
    prediction = unet(noisy.to(compute), timesteps, context, vector)
    loss = torch.nn.functional.mse_loss(prediction.float(), torch.randn_like(latents))
    cast.caching, cast.cache = False, {}
    return loss


def backward(loss) -> None:
    """loss.backward() straight into the engine: through torch's API the function mode would be off during
    the backward pass, and with it the autocast emulation of checkpointed blocks that are computed again."""
    import torch
    from torch.autograd.variable import Variable

    Variable._execution_engine.run_backward((loss,), (torch.ones_like(loss),), False, False, (),
                                            allow_unreachable=True, accumulate_grad=True)


def trace_one(spec: dict) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    started = time.time()
    unet = build_unet(spec)
    encoders = build_text_encoders(spec) if spec["text_encoders_on_gpu"] else []
    vae = build_vae(spec) if spec["vae_on_gpu"] else None
    vaes = [vae] if vae is not None else []
    network = build_network(spec, unet, encoders if spec["train_text_encoder"] else [])
    for model in [unet, *encoders, *vaes]:
        model.requires_grad_(False)
    network.requires_grad_(True)
    if spec["gradient_checkpointing"]:
        unet.enable_gradient_checkpointing()
        for encoder in encoders if spec["train_text_encoder"] else []:
            encoder.gradient_checkpointing_enable()
            encoder.text_model.embeddings.requires_grad_(True)  # sd-scripts' workaround so checkpointing has grads
    unet.train(spec["gradient_checkpointing"])
    tracker, cast = make_tracker(), make_autocast(spec["compute"])
    weights = {}
    for name, modules in {"unet": [unet], "text_encoders": encoders, "vae": vaes, "lora": [network]}.items():
        before = tracker.current
        for tensor in (t for module in modules for t in [*module.parameters(), *module.buffers()]):
            tracker.add(tensor)
        weights[name] = tracker.current - before
    resident = tracker.current
    emit("phase", name="step", width=spec["width"], height=spec["height"], batch=spec["batch"])
    with FlopCounterMode(display=False) as flops, tracker, cast:
        loss = training_step(spec, unet, encoders, vae, cast)
        forward_flops = flops.get_total_flops()
        after_forward = tracker.current
        backward(loss)
        del loss
    trainable = [p for p in network.parameters() if p.requires_grad]
    return {"peak_bytes": tracker.peak, "resident_bytes": resident, "weights_bytes": weights,
            "after_forward_bytes": after_forward, "after_backward_bytes": tracker.current,
            "grad_bytes": sum(p.grad.numel() * p.grad.element_size() for p in trainable if p.grad is not None),
            "flops": flops.get_total_flops(), "forward_flops": forward_flops,
            "trainable_params": sum(p.numel() for p in trainable), "seconds": round(time.time() - started, 2)}


def main(argv: list[str]) -> None:
    root, spec_file = argv[1], argv[2]
    sys.path.insert(0, root)
    os.chdir(root)
    logging.disable(logging.WARNING)  # sd-scripts logs every LoRA module it creates
    started = time.time()
    import torch

    with open(spec_file, encoding="utf-8") as handle:
        specs = json.load(handle)
    emit("phase", name="imported", seconds=round(time.time() - started, 2), torch=torch.__version__)
    results = []
    for index, spec in enumerate(specs):
        try:
            results.append({"ok": True, **trace_one(spec)})
        except Exception as error:  # noqa: BLE001 - one bad spec must not hide the others; its message goes back
            results.append({"ok": False, "error": f"{type(error).__name__}: {error}"})
        emit("traced", index=index, total=len(specs), ok=results[-1]["ok"])
    print(json.dumps({"torch": torch.__version__, "seconds": round(time.time() - started, 2), "results": results}))


if __name__ == "__main__":
    main(sys.argv)

"""`kohya-wrap estimate`: predicted peak VRAM, s/it, time and cost of a preset on a GPU, before launch."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import (
    CONTEXT_SETTINGS,
    echo_json,
    json_option,
    overrides_argument,
)
from kohya_wrap.errors import KohyaWrapError

VERDICTS = {"fits": "fits", "tight": "TIGHT (over 90% of memory)", "does_not_fit": "DOES NOT FIT"}


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("preset", required=False)
@overrides_argument
@click.option("--gpu", "gpu_name", metavar="NAME", help="GPU to estimate for (4090, a6000, l40s, h100, ...).")
@click.option("--vram", type=float, metavar="GB", help="Only the GPU's memory (no time estimate without --gpu).")
@click.option("--price", type=float, metavar="USD", help="Hourly price per GPU (default: limits.gpu_hourly_usd, "
              "then prices.toml).")
@click.option("--model", type=click.Path(path_type=Path), help="Base model to check for existence.")
@click.option("--analytic", is_flag=True, help="Skip the trace: use the analytic activation model.")
@click.option("--gpus", "list_gpus", is_flag=True, help="List the GPU table and exit.")
@json_option
def estimate(preset, overrides, gpu_name, vram, price, model, analytic, list_gpus, as_json):
    """Predict peak VRAM, s/it, time and cost of PRESET (plus overrides) before launch.

    Traces one training step of sd-scripts' own SDXL U-Net with the LoRA attached on PyTorch's meta
    device (no GPU, no weights; a few seconds, cached by config), in the backend's Python. Without a
    backend the activations come from an analytic model, and the output says so. Every number shows
    its basis; a run that is tight or does not fit gets the cheapest changes that make it fit.

    \b
    Example:
      kohya-wrap estimate sdxl-style --gpu 4090
      kohya-wrap estimate sdxl-h100 --gpu a6000 dataset.batch_size=4 --json
      kohya-wrap estimate sdxl-lowvram --vram 12
      kohya-wrap estimate --gpus
    """
    from kohya_wrap.estimate import gpus

    if list_gpus:
        _show_gpus(gpus.GPUS, as_json)
        return
    if not preset:
        raise KohyaWrapError("Missing PRESET", hint="e.g. `kohya-wrap estimate sdxl-style --gpu 4090`")
    if gpu_name and vram is not None:
        raise KohyaWrapError("Give --gpu or --vram, not both", hint="--gpu knows memory and speed; --vram only memory")
    from kohya_wrap.config.resolve import resolve
    from kohya_wrap.registry.db import open_registry
    from kohya_wrap.runner.plan import predict

    resolved = resolve(preset, overrides, model=model, check_model=model is not None)
    gpu = _pick_gpu(gpus, gpu_name, vram, resolved.data.get("meta", {}).get("vram_gb"))
    # calibrated by the registry's finished runs on this GPU, when there are any (the basis says so)
    result = predict(resolved.data, gpu, registry=open_registry(), price=price, allow_trace=not analytic,
                     on_event=_progress)  # stderr: the JSON on stdout stays clean
    if as_json:
        echo_json({"preset": preset, "overrides": list(overrides), **result.to_dict()})
        return
    _show(preset, result)


def _pick_gpu(gpus, name, vram, preset_vram):
    if name:
        return gpus.lookup(name)
    if vram is not None:
        return gpus.generic(vram)
    if preset_vram:
        click.echo(f"No --gpu given: judging fit against the preset's meta.vram_gb ({preset_vram:g} GB); "
                   "pass --gpu NAME for time and cost.", err=True)
        return gpus.generic(float(preset_vram))
    raise KohyaWrapError("No GPU to estimate for", hint="pass --gpu NAME (see `kohya-wrap estimate --gpus`) "
                         "or --vram GB")


def _progress(event: dict) -> None:
    if event["type"] == "tracing":
        click.echo(f"Tracing {event['count']} config(s) in the backend's Python on the meta device "
                   "(a few seconds each; cached afterwards)...", err=True)
    elif event["type"] == "traced":
        click.echo(f"  traced {event['index'] + 1}/{event['total']}", err=True)


def _show_gpus(table, as_json: bool) -> None:
    if as_json:
        echo_json([gpu.to_dict() for gpu in table])
        return
    click.echo(f"{'KEY':<11} {'NAME':<32} {'MEMORY':>9} {'BF16 TFLOPS':>11} {'EFFIC.':>6}")
    for gpu in table:
        click.echo(f"{gpu.key:<11} {gpu.name:<32} {gpu.memory_gib:>5.1f} GiB {gpu.bf16_tflops:>11.1f} "
                   f"{gpu.efficiency:>6.2f}")
    click.echo("\nTFLOPS: dense (no sparsity) bf16 tensor peak, fp32 accumulate, from spec sheets. "
               "Efficiency: assumed share of it that SDXL LoRA training reaches (until runs calibrate it).")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{seconds / 60:.1f} min"


def _show(preset: str, result) -> None:
    gpu = result.gpu
    click.echo(f"{preset} on {gpu['name']} ({gpu['memory_gib']:g} GiB): {VERDICTS[result.verdict]} "
               f"({result.memory_share:.0%} of memory)")
    rows = [("peak VRAM", f"{result.peak_vram_gib:.1f} GiB", result.basis["peak_vram_gib"]),
            ("FLOPs/step", f"{result.flops_per_step / 1e12:.1f} TFLOP", result.basis["flops_per_step"]),
            ("s/it", f"{result.s_per_it:.2f}" if result.s_per_it else "-", result.basis["s_per_it"]),
            ("total time", _duration(result.total_seconds) if result.total_seconds else "-",
             result.basis["total_seconds"]),
            ("cost", f"{result.cost_usd:.2f} USD" if result.cost_usd is not None else "-", result.basis["cost_usd"])]
    for label, value, basis in rows:
        click.echo(f"  {label:<11} {value:>13}   basis: {basis}")
    parts = ", ".join(f"{name.replace('weights_', '')} {value:.2f}" for name, value in result.breakdown_gib.items()
                      if value >= 0.005)
    click.echo(f"  memory parts (GiB): {parts}")
    if result.steps and result.time_parts_s:
        times = ", ".join(f"{k[:-2]} {_duration(v)}" for k, v in result.time_parts_s.items())
        click.echo(f"  time parts ({result.steps} steps): {times}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.suggestions:
        click.echo("To make it fit (cheapest first; each predicted with the same basis):")
        for item in result.suggestions:
            speed = f", {item.s_per_it:.2f} s/it" if item.s_per_it else ""
            click.echo(f"  - {item.change}: {item.peak_vram_gib:.1f} GiB ({VERDICTS[item.verdict]}, "
                       f"{-item.saves_gib:+.1f} GiB{speed})")
            click.echo(f"      {' '.join(item.overrides)}")

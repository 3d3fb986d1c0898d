"""`kohya-wrap validate`, `generate` and `export`: look at a LoRA against its base, render with it, ship it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option
from kohya_wrap.errors import EXIT_FAILED

DIR = click.Path(path_type=Path, file_okay=False)
EXISTING_DIR = click.Path(path_type=Path, file_okay=False, exists=True)


def generation_options(func):
    """The settings validate and generate share, so the same values give the same image in both."""
    options = [
        click.option("--base", help="SDXL base: a single-file .safetensors checkpoint or a diffusers folder "
                                    "[default: the job's pretrained_model_name_or_path]."),
        click.option("--base-config", type=EXISTING_DIR,
                     help="diffusers folder with the configs of a single-file base [default: SDXL base 1.0's, offline]."),
        click.option("--size", default="1024", show_default=True, help="Image size: 1024 or WIDTHxHEIGHT."),
        click.option("--steps", type=int, default=25, show_default=True, help="Sampling steps."),
        click.option("--cfg", type=float, default=7.0, show_default=True, help="Classifier-free guidance scale."),
        click.option("--sampler", default="euler", show_default=True,
                     help="euler, euler_a, dpmpp_2m, dpmpp_2m_karras, dpmpp_2m_sde, ddim, heun, unipc, ..."),
        click.option("--negative", default="", help="Negative prompt (a prompts file line's --n wins)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True),
        click.option("--dtype", type=click.Choice(["auto", "fp32", "fp16", "bf16"]), default="auto", show_default=True,
                     help="auto: fp16 on a GPU, fp32 on the CPU."),
        click.option("--threads", type=int, default=None, help="CPU threads for torch [default: torch's choice]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(size, steps, cfg, sampler, device, dtype):
    from kohya_wrap.validate.settings import GenerationSettings, parse_size

    width, height = parse_size(size)
    return GenerationSettings(width=width, height=height, steps=steps, cfg=cfg, sampler=sampler, device=device,
                              dtype=dtype)


def _progress():
    """Progress on stderr, one line per event, so --json output on stdout stays clean."""

    def show(event: dict) -> None:
        kind = event.get("type")
        if kind == "loaded":
            line = f"loaded the base in {event['seconds']:.1f} s on {event['device']} ({event['dtype']})"
        elif kind == "lora":
            injected, expected = sum(event["injected"].values()), sum(event["expected"].values())
            line = f"loaded LoRA {event['name']}: {injected} of {expected} layers applied"
        elif kind == "image":
            line = f"[{event['index']}/{event['total']}] {Path(event['path']).name} in {event['seconds']:.2f} s"
        else:
            return
        click.echo(line, err=True)

    return show


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("refs", nargs=-1, required=True, metavar="JOB|FILE...")
@click.option("--prompt", "texts", multiple=True, help="A prompt (repeatable) [default: the job's sample prompts, "
                                                         "else prompts from its captions and trigger word].")
@click.option("--prompts", "prompts_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A prompts file: one a line (sd-scripts' format, --n for the negative), .toml or .json.")
@click.option("--seeds", default="1,2", show_default=True, help="Seeds, comma-separated.")
@click.option("--strengths", default="0,0.5,0.8,1.0", show_default=True, help="LoRA strengths; 0 is the base.")
@generation_options
@click.option("--clip", type=EXISTING_DIR, help="A local CLIP model folder: adds a CLIP score per image.")
@click.option("--out", type=DIR, help="Folder for the run folder [default: <job>/validation/].")
@json_option
def validate(refs, texts, prompts_file, seeds, strengths, base, base_config, size, steps, cfg, sampler, negative,
             device, dtype, threads, clip, out, as_json):
    """Render LoRAs against their base on fixed seeds: images, a labelled grid and validation.json.

    One pipeline is loaded once; each LoRA is applied at each strength without reloading, and strength 0 is
    checked to be the base exactly. Several LoRAs (a sweep, or one run's checkpoints) are compared side by side.
    Exit code 1 when a check fails (NaN output, a LoRA that changes nothing, copies of training images).

    \b
    Example:
      kohya-wrap validate runs/20261121-082350-shape-1a2b --seeds 1,2,3 --strengths 0,0.5,1
      kohya-wrap validate a.safetensors b.safetensors --base sd_xl_base_1.0.safetensors --prompt "ohwx, a cat"
      kohya-wrap validate runs/JOB/output/*.safetensors --size 512 --steps 20 --json
    """
    from kohya_wrap.validate.flow import choose_prompts
    from kohya_wrap.validate.flow import validate as run_validation
    from kohya_wrap.validate.settings import ValidationPlan, parse_numbers

    settings = _settings(size, steps, cfg, sampler, device, dtype)
    prompts, source = choose_prompts(list(refs), list(texts), prompts_file, negative)
    plan = ValidationPlan(prompts=prompts, seeds=parse_numbers(seeds, int, "seeds"),
                          strengths=parse_numbers(strengths, float, "strengths"), settings=settings)
    click.echo(f"prompts from {source}: {len(prompts)}; {len(plan.seeds)} seed(s); strengths "
               f"{', '.join(f'{s:g}' for s in plan.strengths)}", err=True)
    from kohya_wrap.runner.lookup import lora_path, record_validation

    refs = [lora_path(ref) for ref in refs]
    record, run_dir = run_validation(list(refs), plan, base, str(base_config) if base_config else None, out, clip,
                                     source, _progress(), threads)
    recorded = record_validation(record, run_dir)
    if as_json:
        echo_json({**record, "run_dir": str(run_dir), "recorded_in": recorded})
    else:
        click.echo(_summary(record, run_dir))
        for job in recorded:
            click.echo(f"{'Recorded:':<10}{job} (registry.json, model version, report.html)")
    if not record["ok"]:
        sys.exit(EXIT_FAILED)


def _summary(record: dict, run_dir: Path) -> str:
    timing = record["timing"]
    lines = [f"{'Run:':<10}{run_dir}", f"{'Grid:':<10}{run_dir / 'grid.png'}",
             f"{'Images:':<10}{timing['images']} at {timing['seconds_per_image']} s each "
             f"(base loaded in {timing['load_seconds']} s, peak RSS {timing['peak_rss_mb']} MB)"]
    lines += [f"{'Effect:':<10}{line}" for line in record["comparison"]["lines"]]
    for name, check in record["checks"].items():
        state = "skipped" if "skipped" in check else ("ok" if check.get("ok", True) else "FAILED")
        lines.append(f"{'Check:':<10}{name}: {state}")
    lines += [f"{'Problem:':<10}{problem}" for problem in record["problems"]]
    return "\n".join(lines)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--lora", "ref", required=True, metavar="JOB|FILE", help="The LoRA: a .safetensors file or a job folder.")
@click.option("--strength", type=float, default=1.0, show_default=True, help="LoRA strength (0 = the base).")
@click.option("--prompt", required=True, help="The prompt.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the first image.")
@click.option("--n", "count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Number of images (seeds SEED, SEED+1, ...).")
@generation_options
@click.option("--out", type=DIR, required=True, help="Folder for the images.")
@json_option
def generate(ref, strength, prompt, seed, count, base, base_config, size, steps, cfg, sampler, negative, device,
             dtype, threads, out, as_json):
    """Generate images with a LoRA; the same settings and seed give the same image as `validate`.

    \b
    Example:
      kohya-wrap generate --lora runs/20261121-082350-shape-1a2b --prompt "shape, a red circle" --n 4 --out imgs
      kohya-wrap generate --lora my.safetensors --base sd_xl_base_1.0.safetensors --strength 0.8 \\
          --prompt "ohwx, portrait" --seed 7 --size 832x1216 --sampler dpmpp_2m_karras --out imgs --json
    """
    from kohya_wrap.validate.flow import generate as run_generation
    from kohya_wrap.validate.settings import Prompt

    settings = _settings(size, steps, cfg, sampler, device, dtype)
    images = run_generation(ref, Prompt(prompt, negative), list(range(seed, seed + count)), strength, settings, out,
                            base, str(base_config) if base_config else None, _progress(), threads)
    if as_json:
        echo_json(images)
        return
    for image in images:
        click.echo(f"{image['path']}  seed {image['seed']}  {image['seconds']} s"
                   + ("" if image["finite"] else "  NaN/Inf output"))
    if not all(image["finite"] for image in images):
        sys.exit(EXIT_FAILED)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="JOB|FILE")
@click.option("--to", "tool", type=click.Choice(["comfyui", "a1111", "forge"]), help="The image tool.")
@click.option("--dir", "root", type=DIR, help="The tool's folder (or its models/ or LoRA folder).")
@click.option("--name", help="File name in the tool [default: the LoRA's own].")
@click.option("--weight", type=float, default=None, help="Preferred weight for the sidecar/workflow [default: 1.0].")
@click.option("--trigger", "triggers", multiple=True, help="Trigger word (repeatable) [default: the job's class tokens].")
@click.option("--checkpoint", help="Base checkpoint file name for the ComfyUI workflow [default: the job's base].")
@click.option("--rewrite-metadata", is_flag=True,
              help="Set ss_output_name, modelspec.title and the trigger words in the copy's header (tensors untouched).")
@click.option("--no-preview", is_flag=True, help="Do not write <name>.preview.png.")
@click.option("--check", "check_only", is_flag=True, help="Only check that every key maps onto SDXL; copy nothing.")
@json_option
def export(ref, tool, root, name, weight, triggers, checkpoint, rewrite_metadata, no_preview, check_only, as_json):
    """Copy a LoRA into ComfyUI (models/loras) or A1111/Forge (models/Lora) with the files they read.

    Never overwrites a different file of the same name (the same file again is a no-op). Writes A1111's
    <name>.json (activation text, preferred weight, notes) or a ComfyUI workflow, and <name>.preview.png from the
    validation images. Every key is checked against SDXL's layers; keys a loader would silently ignore are listed.

    \b
    Example:
      kohya-wrap export runs/20261121-082350-shape-1a2b --to comfyui --dir ~/ComfyUI
      kohya-wrap export shape_lora.safetensors --to a1111 --dir ~/stable-diffusion-webui --name shape --weight 0.8
      kohya-wrap export shape_lora.safetensors --check --json
    """
    from kohya_wrap.errors import KohyaWrapError

    if check_only:
        return _check(ref, as_json)
    if not tool or not root:
        raise KohyaWrapError("export needs --to and --dir", hint="kohya-wrap export JOB --to comfyui --dir ~/ComfyUI")
    from kohya_wrap.artifacts.export import export_lora

    result = export_lora(ref, tool, root, name, weight, list(triggers) if triggers else None, rewrite_metadata,
                         checkpoint, not no_preview)
    if as_json:
        echo_json(result.to_dict())
        return
    for item in result.files:
        click.echo(f"{item['action']:<14}{item['path']}  ({item['what']})")
    keys = result.keys
    click.echo(f"{'keys:':<14}{keys['modules']} modules, {keys['ignored']} would be ignored")
    for warning in result.warnings:
        click.echo(f"{'warning:':<14}{warning}")


def _check(ref: str, as_json: bool) -> None:
    from kohya_wrap.artifacts.keys import check_keys
    from kohya_wrap.artifacts.resolve import resolve_lora

    report = check_keys(resolve_lora(ref).path).to_dict()
    if as_json:
        echo_json(report)
    else:
        parts = ", ".join(f"{part} {n}" for part, n in report["by_part"].items())
        click.echo(f"{report['modules']} modules ({parts}); formats {report['formats']}; "
                   f"U-Net naming {report['unet_naming']}")
        for line in report["problems"] + report["diffusers_problems"]:
            click.echo(f"problem: {line}")
        if report["ok"]:
            click.echo("every key maps onto an SDXL layer")
    if not report["ok"]:
        sys.exit(EXIT_FAILED)

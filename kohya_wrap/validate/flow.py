"""validate and generate: resolve the LoRAs and base, plan the renders, run the child, check and record."""

from __future__ import annotations

import time
from pathlib import Path

from kohya_wrap.artifacts.header import file_sha256
from kohya_wrap.artifacts.jobinfo import JobFacts, job_facts
from kohya_wrap.artifacts.keys import check_keys
from kohya_wrap.artifacts.resolve import LoraRef, resolve_lora
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.validate import record as rec
from kohya_wrap.validate.run import Progress, Render, build_spec, resolve_base, run_child
from kohya_wrap.validate.settings import GenerationSettings, Prompt, ValidationPlan


def unique_names(loras: list[LoraRef]) -> list[str]:
    """Column names: file stems, prefixed with the job folder's name where two stems clash."""
    stems = [lora.name for lora in loras]
    names = []
    for lora in loras:
        name = lora.name
        if stems.count(name) > 1:
            name = f"{lora.job_dir.name if lora.job_dir else lora.path.parent.name}/{name}"
        while name in names:
            name += "'"
        names.append(name)
    return names


def checked_loras(refs: list[str]) -> tuple[list[LoraRef], dict[str, dict]]:
    """Resolve each LoRA and check its keys; a file diffusers cannot load at all is refused before any work."""
    loras = [resolve_lora(ref) for ref in refs]
    reports = {}
    for lora in loras:
        report = check_keys(lora.path)
        if report.diffusers_problems:
            raise KohyaWrapError(f"{lora.path.name} cannot be rendered with diffusers: {report.diffusers_problems[0]}",
                                 hint="validate renders kohya LoRA files (networks.lora); export still works")
        reports[str(lora.path)] = report.to_dict()
    return loras, reports


def default_base(facts: JobFacts | None, base: str | None) -> str | None:
    """--base, else the base model the job trained on."""
    if base:
        return base
    if facts and facts.base_model:
        if not Path(facts.base_model).exists():
            raise KohyaWrapError(f"The job's base model {facts.base_model} is not there any more",
                                 hint="pass --base with the SDXL checkpoint the LoRA was trained on")
        return facts.base_model
    return None


def run_dir_for(loras: list[LoraRef], out: Path | None, run_id: str) -> Path:
    if out is not None:
        return Path(out).expanduser() / run_id
    job = next((lora.job_dir for lora in loras if lora.job_dir), None)
    return (job / "validation" / run_id) if job else Path.cwd() / "validation" / run_id


def plan_renders(plan: ValidationPlan, names: list[str], run_dir: Path) -> list[Render]:
    renders = []
    for p, prompt in enumerate(plan.prompts):
        for seed in plan.seeds:
            renders.append(Render(f"p{p}-s{seed}-base", prompt, p, seed, None, None,
                                  run_dir / "images" / f"p{p}-s{seed}-base.png"))
            for n, name in enumerate(names):
                for strength in plan.strengths:
                    rid = f"p{p}-s{seed}-l{n}-w{rec.strength_label(strength)}"
                    renders.append(Render(rid, prompt, p, seed, name, strength, run_dir / "images" / f"{rid}.png"))
    return renders


def lora_entries(loras, names, reports, loaded: dict[str, dict]) -> list[dict]:
    """Per LoRA: layers in the file vs applied by the loader (the check that counts here), and name problems."""
    entries = []
    for lora, name in zip(loras, names):
        info, report = loaded.get(name, {}), reports[str(lora.path)]
        expected, injected = info.get("expected", {}), info.get("injected", {})
        entries.append({"name": name, "path": str(lora.path), "sha256": file_sha256(lora.path),
                        "job": str(lora.job_dir) if lora.job_dir else None, "final": lora.final,
                        "expected": expected, "injected": injected, "all_injected": expected == injected,
                        "load_seconds": info.get("seconds"), "key_check_ok": report["names_ok"],
                        "key_problems": report["name_problems"]})
    return entries


def image_entries(renders: list[Render], result, run_dir: Path) -> list[dict]:
    images = []
    for render in renders:
        event = result.images.get(render.id, {})
        images.append({"id": render.id, "path": str(render.out.relative_to(run_dir)), "prompt": render.prompt.text,
                       "prompt_index": render.prompt_index, "seed": render.seed, "strength": render.strength,
                       "lora": render.lora, "seconds": event.get("seconds"), "finite": event.get("finite", False),
                       "sha256": event.get("sha256")})
    return images


def choose_prompts(refs: list[str], texts: list[str], prompts_file: Path | None,
                   negative: str = "") -> tuple[list[Prompt], str]:
    """The prompts to validate with and where they came from: given, a file, else the first LoRA's job."""
    from kohya_wrap.validate.prompts import default_prompts, read_prompts_file

    if texts and prompts_file:
        raise KohyaWrapError("Give --prompt or --prompts, not both")
    if texts:
        return [Prompt(text, negative) for text in texts], "given"
    if prompts_file:
        prompts = read_prompts_file(prompts_file)
        if not prompts:
            raise KohyaWrapError(f"{prompts_file} holds no prompts", hint="one prompt a line; # starts a comment")
        return [Prompt(p.text, p.negative or negative) for p in prompts], str(prompts_file)
    first = resolve_lora(refs[0])
    prompts, source = default_prompts(job_facts(first.job_dir) if first.job_dir else None)
    return [Prompt(p.text, p.negative or negative) for p in prompts], source


def validate(refs: list[str], plan: ValidationPlan, base: str | None = None, base_config: str | None = None,
             out: Path | None = None, clip: Path | None = None, prompts_from: str = "given",
             progress: Progress | None = None, threads: int | None = None, python: str | None = None) -> tuple[dict, Path]:
    """Render every LoRA against the base on the plan's prompts and seeds; returns (validation record, run folder)."""
    from kohya_wrap.validate.checks import run_checks

    started = time.time()
    loras, reports = checked_loras(refs)
    facts = job_facts(loras[0].job_dir) if loras[0].job_dir else None
    base_path, config = resolve_base(default_base(facts, base), base_config)
    if clip is not None and not (Path(clip) / "config.json").is_file():
        raise KohyaWrapError(f"--clip {clip} is not a CLIP model folder (no config.json)",
                             hint="give a local folder saved with transformers' CLIPModel.save_pretrained")
    names = unique_names(loras)
    run_id = rec.new_run_id()
    run_dir = run_dir_for(loras, out, run_id)
    renders = plan_renders(plan, names, run_dir)
    spec = build_spec(base_path, config, {n: l.path for n, l in zip(names, loras)}, renders, plan.settings, clip, threads)
    result = run_child(spec, run_dir, progress, python)
    images = image_entries(renders, result, run_dir)
    training = [p for lora in loras if lora.job_dir for p in job_facts(lora.job_dir).training_images()]
    checks = run_checks(images, run_dir, list(dict.fromkeys(training)), result.clip)
    zero_is_base = checks["strength0_identical_to_base"]["ok"] and checks["strength0_identical_to_base"]["checked"] > 0
    record = {
        "kind": rec.KIND, "version": rec.VERSION, "run_id": run_id,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "job": str(loras[0].job_dir) if loras[0].job_dir else None,
        "settings": {"prompts": [{"text": p.text, "negative": p.negative} for p in plan.prompts],
                     "prompts_from": prompts_from, "seeds": plan.seeds, "strengths": plan.strengths,
                     **plan.settings.to_dict(), "base": str(base_path), "base_config": str(config) if config else None,
                     "clip": str(clip) if clip else None, "device_used": result.loaded.get("device"),
                     "dtype_used": result.loaded.get("dtype")},
        "loras": lora_entries(loras, names, reports, result.loras),
        "images": images,
        "checks": checks,
        "comparison": rec.compare_loras(images, run_dir, checks["pixel_difference"]["mean_abs_diff"]),
        "grid": rec.write_grid(run_dir, images, [p.text for p in plan.prompts], names, plan.strengths, zero_is_base),
        "timing": timing(images, result, started),
    }
    rec.write_record(run_dir, record)
    return record, run_dir


def timing(images: list[dict], result, started: float) -> dict:
    seconds = [i["seconds"] for i in images if i["seconds"] is not None]
    return {"images": len(images), "load_seconds": result.loaded.get("seconds"),
            "render_seconds": round(sum(seconds), 3),
            "seconds_per_image": round(sum(seconds) / len(seconds), 4) if seconds else None,
            "child_seconds": result.done.get("seconds"), "total_seconds": round(time.time() - started, 3),
            "peak_rss_mb": result.done.get("peak_rss_mb")}


def generate(ref: str | None, prompt: Prompt, seeds: list[int], strength: float, settings: GenerationSettings,
             out_dir: Path, base: str | None = None, base_config: str | None = None, progress: Progress | None = None,
             threads: int | None = None, python: str | None = None) -> list[dict]:
    """Render `prompt` on each seed with one LoRA (or none) into out_dir; the same image validate makes."""
    loras, _ = checked_loras([ref]) if ref else ([], {})
    facts = job_facts(loras[0].job_dir) if loras and loras[0].job_dir else None
    base_path, config = resolve_base(default_base(facts, base), base_config)
    out_dir = Path(out_dir).expanduser().resolve()
    name = loras[0].name if loras else None
    renders = [Render(f"s{seed}", prompt, 0, seed, name, strength if name else None,
                      out_dir / (f"{name}-w{rec.strength_label(strength)}-s{seed}.png" if name else f"base-s{seed}.png"))
               for seed in seeds]
    spec = build_spec(base_path, config, {name: loras[0].path} if name else {}, renders, settings, None, threads)
    result = run_child(spec, out_dir / ".kohya-wrap", progress, python)
    return [{"path": str(r.out), "seed": r.seed, "prompt": prompt.text, "lora": str(loras[0].path) if name else None,
             "strength": r.strength, **{k: result.images.get(r.id, {}).get(k) for k in ("seconds", "finite", "sha256")}}
            for r in renders]

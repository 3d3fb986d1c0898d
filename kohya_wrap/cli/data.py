"""`kohya-wrap data`: scan, check, preview, prepare datasets; the captions verbs are in cli/captions.py."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import echo, CONTEXT_SETTINGS, echo_json, json_option
from kohya_wrap.cli.dataopts import (bucket_options, cache_path, fail_on_errors, merged_settings, preset_options,
                                     preset_settings, print_findings, progress_bar, resolution_option, same_names,
                                     settings_line)

dir_arg = click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
reg_option = click.option("--reg", "reg_dir", type=click.Path(path_type=Path, file_okay=False),
                          help="Regularisation root (same layout rules).")
ext_option = click.option("--caption-extension", default=".txt", show_default=True, help="Caption file extension.")


@click.group(context_settings=CONTEXT_SETTINGS)
def data():
    """Scan, check, preview and prepare datasets in sd-scripts' folder-repeat layout.

    \b
    Example:
      kohya-wrap data check ./train --resolution 1024
    """


@data.command(context_settings=CONTEXT_SETTINGS)
@dir_arg
@reg_option
@ext_option
@click.option("--images", "with_images", is_flag=True, help="List every image in --json output.")
@json_option
def scan(directory, reg_dir, caption_extension, with_images, as_json):
    """List the subsets sd-scripts would train from DIRECTORY, and layout surprises.

    \b
    Example:
      kohya-wrap data scan ./train --reg ./reg
    """
    from kohya_wrap.dataset.scan import scan_dataset

    result = scan_dataset(directory, reg_dir, caption_extension)
    if as_json:
        echo_json(result.to_dict(with_images))
        return
    for s in result.subsets:
        echo(f"{'reg  ' if s.is_reg else 'train'} {s.num_repeats:>4} x {len(s.images):>5} images "
                   f"= {s.num_repeats * len(s.images):>6}  class={s.class_tokens or '-'!s:20} "
                   f"no caption: {len(s.missing_captions):<4} {s.image_dir}")
    print_findings([f for f in result.findings if f.severity != "info" or f.code != "missing-caption"], False)


@data.command(context_settings=CONTEXT_SETTINGS)
@dir_arg
@preset_options
@reg_option
@resolution_option
@bucket_options
@ext_option
@click.option("--token-limit", default="75", show_default=True, type=click.Choice(["75", "150", "225"]),
              callback=lambda c, p, v: int(v), help="sd-scripts max_token_length (its default is 75).")
@click.option("--fast", is_flag=True, help="Read headers only (misses truncated image data).")
@click.option("--workers", type=int, help="Worker processes (default: all cores).")
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the check cache.")
@click.option("--all", "show_all", is_flag=True, help="List every finding, not a summary.")
@json_option
@click.pass_context
def check(ctx, directory, preset, overrides, reg_dir, resolution, min_bucket_reso, max_bucket_reso, caption_extension,
          token_limit, fast, workers, no_cache, show_all, as_json):
    """Check every image and caption; exit 2 when something would stop or spoil a run.

    With --preset the check uses that preset's resolution, bucket range (and so its aspect range),
    caption extension and token limit, so a clean check means `train` agrees.

    \b
    Example:
      kohya-wrap data check ./data --preset sdxl-style
      kohya-wrap data check ./data --preset sdxl-style dataset.resolution=768
      kohya-wrap data check ./train --reg ./reg --resolution 1024 --json
    """
    from kohya_wrap.dataset.check import check_dataset
    from kohya_wrap.dataset.findings import sort_findings
    from kohya_wrap.dataset.scan import scan_dataset

    resolved = preset_settings(preset, overrides, directory, reg_dir)
    s = merged_settings(ctx, resolved and resolved[1], same_names(
        resolution=resolution, min_bucket_reso=min_bucket_reso, max_bucket_reso=max_bucket_reso,
        caption_extension=caption_extension, token_limit=token_limit))
    result = scan_dataset(directory, reg_dir, s["caption_extension"])
    with progress_bar("checking", quiet=as_json) as progress:
        findings = check_dataset(result.subsets, resolution=s["resolution"], min_bucket_reso=s["min_bucket_reso"],
                                 max_bucket_reso=s["max_bucket_reso"], caption_extension=s["caption_extension"],
                                 token_limit=s["token_limit"], workers=workers, decode=not fast,
                                 cache_path=cache_path(directory, no_cache), progress=progress)
    findings = sort_findings(result.findings + findings)
    if as_json:
        echo_json({"subsets": [x.to_dict() for x in result.subsets], "findings": [f.to_dict() for f in findings],
                   "settings": {**s, "preset": preset}})
    else:
        if preset:
            echo(settings_line(preset, s))
        print_findings(findings, show_all)
    fail_on_errors(findings)


@data.command(context_settings=CONTEXT_SETTINGS)
@dir_arg
@preset_options
@reg_option
@resolution_option
@bucket_options
@click.option("--bucket-reso-steps", default=64, show_default=True, type=int)
@click.option("--no-bucket", is_flag=True, help="One fixed-size bucket (enable_bucket = false).")
@click.option("--no-upscale", is_flag=True, help="bucket_no_upscale = true.")
@click.option("--batch-size", default=1, show_default=True, type=int)
@click.option("--grad-accum", default=1, show_default=True, type=int, help="gradient_accumulation_steps.")
@click.option("--epochs", type=int, help="max_train_epochs (overrides --steps, as in sd-scripts).")
@click.option("--steps", type=int, help="max_train_steps (sd-scripts' default: 1600).")
@ext_option
@json_option
@click.pass_context
def preview(ctx, directory, preset, overrides, reg_dir, resolution, min_bucket_reso, max_bucket_reso,
            bucket_reso_steps, no_bucket, no_upscale, batch_size, grad_accum, epochs, steps, caption_extension,
            as_json):
    """Bucket histogram, batches per epoch and "this run = N steps", computed as sd-scripts would.

    With --preset the buckets, batch size and step count are the ones `train` would use.

    \b
    Example:
      kohya-wrap data preview ./data --preset sdxl-style training.max_train_steps=2000
      kohya-wrap data preview ./train --resolution 1024 --batch-size 2 --epochs 10
    """
    from kohya_wrap.dataset.buckets import plan_steps
    from kohya_wrap.dataset.check import image_sizes

    resolved = preset_settings(preset, overrides, directory, reg_dir)
    s = merged_settings(ctx, resolved and resolved[1], {
        **same_names(resolution=resolution, min_bucket_reso=min_bucket_reso, max_bucket_reso=max_bucket_reso,
                      bucket_reso_steps=bucket_reso_steps, batch_size=batch_size,
                      caption_extension=caption_extension),
        "enable_bucket": ("no_bucket", not no_bucket), "bucket_no_upscale": ("no_upscale", no_upscale),
        "gradient_accumulation_steps": ("grad_accum", grad_accum), "max_train_epochs": ("epochs", epochs),
        "max_train_steps": ("steps", steps)})
    s["num_processes"] = resolved[1]["num_processes"] if resolved else 1
    subsets, scanned = _preview_subsets(resolved, directory, reg_dir, s["caption_extension"])
    with progress_bar("reading sizes", quiet=as_json) as progress:
        sizes, problems = image_sizes([i for x in scanned for i in x.images],
                                      cache_path=cache_path(directory, False), progress=progress)
    pairs = [(table, [sizes[i] for i in x.images if i in sizes]) for table, x in zip(subsets, scanned)]
    plan = plan_steps(pairs, resolution=s["resolution"], batch_size=s["batch_size"],
                      gradient_accumulation_steps=s["gradient_accumulation_steps"],
                      max_train_epochs=s["max_train_epochs"], max_train_steps=s["max_train_steps"],
                      min_bucket_reso=s["min_bucket_reso"], max_bucket_reso=s["max_bucket_reso"],
                      bucket_reso_steps=s["bucket_reso_steps"], enable_bucket=s["enable_bucket"],
                      bucket_no_upscale=s["bucket_no_upscale"], num_processes=s["num_processes"])
    if as_json:
        echo_json({**plan.to_dict(), "skipped": [p.to_dict() for p in problems], "settings": {**s, "preset": preset}})
        return
    if preset:
        echo(settings_line(preset, s))
    widest = max(b["count"] for b in plan.buckets)
    for bucket in plan.buckets:
        w, h = bucket["resolution"]
        echo(f"  {w:>5}x{h:<5} {bucket['count']:>6}  " + "#" * max(1, round(40 * bucket["count"] / widest)))
    echo(f"images {plan.images} (x repeats = {plan.images_with_repeats}), reg {plan.reg_images} "
               f"(used {plan.reg_images_used}); {plan.batches_per_epoch} batches/epoch")
    for problem in problems:
        echo(f"skipped {problem.path}: {problem.message}", err=True)
    echo(plan.summary())


@data.command(context_settings=CONTEXT_SETTINGS)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="New, empty folder to build.")
@click.option("--token", help="Trigger word, e.g. ohwx.")
@click.option("--class", "class_tokens", help="Class word(s), e.g. woman.")
@click.option("--repeats", default=1, show_default=True, type=int)
@click.option("--reg", "reg", multiple=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--reg-repeats", default=1, show_default=True, type=int)
@click.option("--resize", type=int, help="Shrink to about N*N pixels (keeps aspect), or exactly NxN with --pad/--crop.")
@click.option("--pad", "fit", flag_value="pad", help="With --resize: fit inside NxN and pad.")
@click.option("--crop", "fit", flag_value="crop", help="With --resize: fill NxN and centre-crop.")
@click.option("--resample", type=click.Choice(["lanczos", "nearest"]), default="lanczos", show_default=True,
              help="nearest keeps pixel art crisp.")
@click.option("--format", "image_format", type=click.Choice(["png", "webp"]), help="Convert images (webp is lossless).")
@click.option("--flatten-alpha", metavar="COLOR", help="Composite transparency onto COLOR (white, #808080).")
@click.option("--link", "mode", flag_value="link", help="Symlink images instead of copying.")
@click.option("--copy", "mode", flag_value="copy", default=True, help="Copy images (default).")
@ext_option
@click.option("--dry-run", is_flag=True, help="Print the plan, write nothing.")
@json_option
def prepare(sources, out, token, class_tokens, repeats, reg, reg_repeats, resize, fit, resample, image_format,
            flatten_alpha, mode, caption_extension, dry_run, as_json):
    """Build DEST/img/<repeats>_<token class>/ (and DEST/reg/) from flat folders; sources are never written.

    \b
    Example:
      kohya-wrap data prepare photos/ --out ds --token ohwx --class woman --repeats 10 --dry-run
    """
    from kohya_wrap.dataset.prepare import apply_prepare, plan_prepare

    plan = plan_prepare(sources, out, token=token, class_tokens=class_tokens, repeats=repeats, reg=reg,
                        reg_repeats=reg_repeats, resize=resize, fit=fit, resample=resample,
                        image_format=image_format, flatten_alpha=flatten_alpha, mode=mode,
                        caption_extension=caption_extension)
    if dry_run:
        echo_json(plan.to_dict()) if as_json else echo("\n".join(plan.lines()))
        return
    with progress_bar("preparing", quiet=as_json) as progress:
        summary = apply_prepare(plan, progress=progress)
    steps = next_commands(plan)
    if as_json:
        echo_json({**summary, "findings": [f.to_dict() for f in plan.findings], "next": steps})
        return
    from kohya_wrap.dataset.findings import summarise

    for row in summarise(plan.findings):
        more = f" (and {row['count'] - 1} more)" if row["count"] > 1 else ""
        echo(f"{row['severity']}: {row['code']} {row['example']}{more}: {row['message']}", err=True)
    echo(f"Wrote {summary['written']} files under {summary['out']}.")
    echo(f"Next: {steps[0]}")
    for step in steps[1:]:
        echo(f"Then: {step}")
    echo("(sdxl-style is one preset of several: kohya-wrap presets ls)")


def next_commands(plan) -> list[str]:
    """The commands that continue from a prepared folder, ready to paste (the folder root is the dataset)."""
    import shlex

    root = shlex.quote(str(plan.out))
    steps = []
    if plan.settings.token and any(f.code == "caption-lacks-trigger" for f in plan.findings):
        steps.append(f"kohya-wrap data captions {root} add-trigger {shlex.quote(plan.settings.token)}")
    steps.append(f"kohya-wrap data check {root} --preset sdxl-style")
    steps.append(f"kohya-wrap train sdxl-style --dataset {root} --model sd_xl_base_1.0.safetensors --dry-run")
    return steps


def _preview_subsets(resolved, directory, reg_dir, caption_extension):
    """(subset tables, scanned subsets): with a preset the very tables train writes into dataset.toml
    (a flat folder takes the preset's repeats); without one, the folders' own."""
    if resolved:
        from kohya_wrap.config.build import plan_dataset

        planned = plan_dataset(resolved[0])
        return planned.subsets, planned.scan.subsets
    from kohya_wrap.dataset.scan import scan_dataset

    scanned = scan_dataset(directory, reg_dir, caption_extension).subsets
    return scanned, scanned


# the captions verbs live in their own module (kept below the group it joins)
from kohya_wrap.cli.captions import captions

data.add_command(captions)

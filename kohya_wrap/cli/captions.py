"""`kohya-wrap data captions DIR ...`: edit, count and auto-generate the captions of a dataset."""

from __future__ import annotations

from pathlib import Path

import click

from kohya_wrap.cli.common import echo, CONTEXT_SETTINGS, echo_json, json_option

ext_option = click.option("--caption-extension", default=".txt", show_default=True, help="Caption file extension.")
HELP_FLAGS = ("-h", "--help")


class CaptionsGroup(click.Group):
    """The folder comes before the verb (data captions DIR add-trigger WORD); `data captions VERB -h`
    still shows the verb's help, and a verb given first says where the folder goes."""

    def parse_args(self, ctx, args):
        if args and args[0] in self.commands and not Path(args[0]).is_dir():
            verb = self.commands[args[0]]
            if any(arg in HELP_FLAGS for arg in args[1:]):
                echo(verb.get_help(click.Context(verb, info_name=args[0], parent=ctx)))
                ctx.exit(0)
            raise click.UsageError(f"{args[0]!r} is a captions verb: give the folder first, e.g. "
                                   f"kohya-wrap data captions ./data {' '.join(args)}", ctx)
        return super().parse_args(ctx, args)


@click.group(cls=CaptionsGroup, context_settings=CONTEXT_SETTINGS)
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@ext_option
@click.pass_context
def captions(ctx, directory, caption_extension):
    """Edit or count captions of the images in DIRECTORY (a prepared copy, or anything with --in-place).

    \b
    Example:
      kohya-wrap data captions ds/img add-trigger ohwx
      kohya-wrap data captions ./train tags --top 20
    """
    ctx.obj = {"directory": directory, "caption_extension": caption_extension}


def edit_options(func):
    for option in reversed([
        click.option("--in-place", is_flag=True, help="Allow editing a source folder (a backup zip is written first)."),
        click.option("--backup-dir", type=click.Path(path_type=Path, file_okay=False), help="Where the backup goes."),
        click.option("--dry-run", is_flag=True, help="Show the edits, write nothing."),
        json_option,
    ]):
        func = option(func)
    return click.pass_obj(func)


def _run_edits(obj, edits, in_place, backup_dir, dry_run, as_json) -> None:
    from kohya_wrap.dataset.captions import apply_edits

    backup = None if dry_run else apply_edits(edits, obj["directory"], in_place=in_place, backup_dir=backup_dir)
    if as_json:
        echo_json({"edits": [e.to_dict() for e in edits], "dry_run": dry_run, "backup": backup})
        return
    for edit in edits:
        echo(f"{'create' if edit.old is None else 'edit'} {edit.path}: {edit.new}")
    verb = "Would change" if dry_run else "Changed"
    echo(f"{verb} {len(edits)} caption files." + (f" Backup: {backup}" if backup else ""))


def _targets(obj):
    from kohya_wrap.dataset.captions import targets

    return targets(obj["directory"], obj["caption_extension"])


@captions.command("add-trigger", context_settings=CONTEXT_SETTINGS)
@click.argument("word")
@edit_options
def add_trigger(obj, word, in_place, backup_dir, dry_run, as_json):
    """Put WORD first in every caption that lacks it (idempotent).

    \b
    Example:
      kohya-wrap data captions ds/img add-trigger ohwx --dry-run
    """
    from kohya_wrap.dataset.captions import plan_add_trigger

    _run_edits(obj, plan_add_trigger(_targets(obj), word), in_place, backup_dir, dry_run, as_json)


@captions.command(context_settings=CONTEXT_SETTINGS)
@click.argument("text")
@edit_options
def prefix(obj, text, in_place, backup_dir, dry_run, as_json):
    """Start every caption with TEXT unless it already does.

    \b
    Example:
      kohya-wrap data captions ds/img prefix "photo of ohwx woman"
    """
    from kohya_wrap.dataset.captions import plan_affix

    _run_edits(obj, plan_affix(_targets(obj), text, "prefix"), in_place, backup_dir, dry_run, as_json)


@captions.command(context_settings=CONTEXT_SETTINGS)
@click.argument("text")
@edit_options
def suffix(obj, text, in_place, backup_dir, dry_run, as_json):
    """End every caption with TEXT unless it already does.

    \b
    Example:
      kohya-wrap data captions ds/img suffix "high quality"
    """
    from kohya_wrap.dataset.captions import plan_affix

    _run_edits(obj, plan_affix(_targets(obj), text, "suffix"), in_place, backup_dir, dry_run, as_json)


@captions.command(context_settings=CONTEXT_SETTINGS)
@click.option("--from", "source", type=click.Choice(["class", "filename"]), default="class", show_default=True)
@click.option("--class", "class_tokens", help="Text to use instead of each folder's class tokens.")
@edit_options
def fill(obj, source, class_tokens, in_place, backup_dir, dry_run, as_json):
    """Create missing caption files from the class tokens or the file name.

    \b
    Example:
      kohya-wrap data captions ds/img fill --from filename
    """
    from kohya_wrap.dataset.captions import plan_fill

    edits = plan_fill(_targets(obj), source, obj["caption_extension"], class_tokens)
    _run_edits(obj, edits, in_place, backup_dir, dry_run, as_json)


@captions.command(context_settings=CONTEXT_SETTINGS)
@click.option("--lowercase", is_flag=True, help="Lower-case every tag.")
@click.option("--keep-duplicates", is_flag=True, help="Do not drop repeated tags.")
@edit_options
def normalise(obj, lowercase, keep_duplicates, in_place, backup_dir, dry_run, as_json):
    """UTF-8 without BOM, one line, tags stripped and de-duplicated.

    \b
    Example:
      kohya-wrap data captions ds/img normalise --lowercase
    """
    from kohya_wrap.dataset.captions import plan_normalise

    edits = plan_normalise(_targets(obj), lowercase, not keep_duplicates)
    _run_edits(obj, edits, in_place, backup_dir, dry_run, as_json)


@captions.command(context_settings=CONTEXT_SETTINGS)
@click.option("--top", default=30, show_default=True, type=int)
@json_option
@click.pass_obj
def tags(obj, top, as_json):
    """Tag frequencies over the first caption line (what sd-scripts reads); read-only.

    \b
    Example:
      kohya-wrap data captions ./train tags --top 20 --json
    """
    from kohya_wrap.dataset.captions import tag_frequencies

    counts = tag_frequencies(_targets(obj))[:top]
    if as_json:
        echo_json([{"tag": tag, "count": n} for tag, n in counts])
        return
    for tag, n in counts:
        echo(f"{n:>6}  {tag}")


captions.add_command(normalise, "normalize")


CAPTIONERS = ("wd14", "blip", "blip2", "florence2")  # kohya_wrap.captioning.layouts.CAPTIONERS, without importing it


@captions.command(context_settings=CONTEXT_SETTINGS)
@click.option("--captioner", required=True, type=click.Choice(CAPTIONERS), help="Which model writes the captions.")
@click.option("--model-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Local model folder (default: ~/.kohya-wrap/captioners/<repo>).")
@click.option("--mode", type=click.Choice(["fill", "replace", "append"]), default="fill", show_default=True,
              help="fill: only images without a caption; replace: a new first line; append: add new tags.")
@click.option("--prefix", default="", help="Tags put before the generated ones, e.g. 'pixel art'.")
@click.option("--suffix", default="", help="Tags put after them, e.g. 'game sprite, 16-bit style'.")
@click.option("--trigger", help="Trigger word, always written as the first tag.")
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--threshold", default=0.35, show_default=True, type=click.FloatRange(0, 1), help="wd14: tag threshold.")
@click.option("--character-threshold", type=click.FloatRange(0, 1), help="wd14: for character tags (default: --threshold).")
@click.option("--undesired-tags", default="", help="Comma-separated tags never written.")
@click.option("--max-length", type=click.IntRange(min=1),
              help="blip/blip2/florence2: most tokens generated (default 75); wd14: most tags kept.")
@click.option("--prompt", help="blip/blip2: text the caption continues; florence2: task (default <DETAILED_CAPTION>).")
@click.option("--num-beams", type=click.IntRange(min=1), help="Beam search width (blip: 1, florence2: 3).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--python", "python", metavar="PATH",
              help="Python to run the captioner in (default: $KOHYA_WRAP_CAPTION_PYTHON, else the backend's).")
@click.option("--allow-download", is_flag=True, help="Fetch a missing model from the Hugging Face hub.")
@click.option("--repo", help="Hub repository for --allow-download and the hint (default per captioner).")
@click.option("--token-limit", type=click.Choice(["75", "150", "225"]), help="max_token_length to check against.")
@click.option("--preset", help="Take max_token_length from this preset (default 75, sd-scripts' own).")
@click.option("--events", is_flag=True, help="Print progress events as JSON lines on stderr.")
@edit_options
def auto(obj, captioner, model_dir, mode, prefix, suffix, trigger, batch_size, threshold, character_threshold,
         undesired_tags, max_length, prompt, num_beams, device, python, allow_download, repo, token_limit, preset,
         events, in_place, backup_dir, dry_run, as_json):
    """Caption images with a local model (WD14 tagger, BLIP, BLIP-2, Florence-2), run in the backend's Python.

    Models load from a local folder; nothing is downloaded without --allow-download. An interrupted run
    continues where it stopped when started again.

    \b
    Example:
      kohya-wrap data captions ds/img auto --captioner wd14 --model-dir ~/models/wd-swinv2-tagger-v3 \\
          --trigger ohwx --undesired-tags "simple background" --dry-run
      kohya-wrap data captions ds/img auto --captioner blip2 --model-dir ~/models/blip2-opt-2.7b \\
          --prefix "pixel art" --suffix "game sprite, 16-bit style" --batch-size 4
    """
    from kohya_wrap.captioning.compose import Style, parse_tag_list
    from kohya_wrap.captioning.run import AutoRequest, preset_token_limit, run_auto_captions

    style = Style(mode=mode, prefix=prefix, suffix=suffix, trigger=trigger, undesired=parse_tag_list(undesired_tags),
                  max_tags=max_length if captioner == "wd14" else None)
    options = {"threshold": threshold, "character_threshold": character_threshold, "prompt": prompt,
               "max_length": None if captioner == "wd14" else max_length, "num_beams": num_beams, "device": device}
    request = AutoRequest(root=obj["directory"], captioner=captioner, model_dir=model_dir, style=style,
                          batch_size=batch_size, options=options, caption_extension=obj["caption_extension"],
                          dry_run=dry_run, in_place=in_place, backup_dir=backup_dir, python=python,
                          allow_download=allow_download, repo=repo,
                          token_limit=int(token_limit) if token_limit else preset_token_limit(preset))
    with _progress(events, quiet=as_json) as on_event:
        summary = run_auto_captions(request, on_event)
    if as_json:
        echo_json(summary)
    else:
        _print_summary(summary)


def _progress(events: bool, quiet: bool):
    """on_event for the run: JSON lines (--events), a bar on a terminal, else a line every 10 seconds."""
    import contextlib
    import json
    import time

    from kohya_wrap.cli.dataopts import progress_bar

    @contextlib.contextmanager
    def view():
        with progress_bar("captioning", quiet=quiet or events) as bar:
            last = [0.0]

            def on_event(event: dict) -> None:
                if events:
                    echo(json.dumps(event, ensure_ascii=False), err=True)
                elif event.get("type") == "progress" and bar is not None:
                    bar(event["done"], event["total"])
                elif event.get("type") == "progress" and not quiet and time.monotonic() - last[0] > 10:
                    last[0] = time.monotonic()
                    echo(f"captioned {event['done']}/{event['total']} ({event['images_per_s']} images/s, "
                               f"ETA {event['eta_s']} s)", err=True)
            yield on_event
    return view()


def _print_summary(s: dict) -> None:
    rate = f" ({s['images_per_s']} images/s)" if s["images_per_s"] else ""
    echo(f"{s['captioner']}: captioned {s['captioned']} images{rate}, reused {s['reused']} from an interrupted "
               f"run, skipped {s['skipped']} that had captions ({s['mode']} mode).")
    if s["dry_run"]:
        for edit in s["edits"][:10]:
            echo(f"{'create' if edit['created'] else 'edit'} {edit['path']}: {edit['new']}")
        echo(f"Would write {s['planned']} caption files (dry run, nothing written).")
    else:
        backup = f" Backup: {s['backup']}" if s["backup"] else ""
        echo(f"Wrote {s['written']} caption files ({s['created']} new, {s['edited']} edited); "
                   f"{s['unchanged']} already matched.{backup}")
    for key, what in (("empty", "got no text from the captioner"), ("failed", "could not be read")):
        if s[key]:
            first = s[key][0] if isinstance(s[key][0], str) else f"{s[key][0]['image']}: {s[key][0]['error']}"
            echo(f"{len(s[key])} images {what} (first: {first}).")
    if s["too_long"]:
        echo(f"{len(s['too_long'])} captions exceed {s['token_limit']} tokens and would be cut "
                   f"(first: {s['too_long'][0]['image']}, {s['too_long'][0]['tokens']} tokens).")
    if s["tag_frequency"]:
        echo("Top tags: " + ", ".join(f"{t['tag']} ({t['count']})" for t in s["tag_frequency"][:10]))

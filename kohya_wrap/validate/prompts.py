"""Prompts to validate with: a prompts file (sd-scripts' sample prompt formats), or the job's own defaults."""

from __future__ import annotations

import json
from pathlib import Path

from kohya_wrap import tomlcompat
from kohya_wrap.artifacts.jobinfo import JobFacts, images_of
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.validate.settings import Prompt

DEFAULT_COUNT = 2


def parse_prompt_line(line: str) -> Prompt | None:
    """One line of sd-scripts' sample prompts .txt: 'text --n negative --w 512 ...'; None for blanks and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    text, *options = line.split(" --")
    negative = ""
    for option in options:
        flag, _, value = option.strip().partition(" ")
        if flag == "n":
            negative = value.strip()
    return Prompt(text=text.strip(), negative=negative) if text.strip() else None


def read_prompts_file(path: Path) -> list[Prompt]:
    """Prompts from a .txt (one a line), .toml ([[prompt.subset]]) or .json (a list) file, as sd-scripts reads them."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise KohyaWrapError(f"Cannot read prompts file {path}: {error}", hint="give an existing text file") from None
    if path.suffix == ".toml":
        try:
            data = tomlcompat.loads(text)
        except tomlcompat.TOMLDecodeError as error:
            raise KohyaWrapError(f"{path} is not valid TOML: {error}") from None
        section = data.get("prompt", {})
        defaults = {k: v for k, v in section.items() if k != "subset"}
        items = [{**defaults, **item} for item in section.get("subset", [])]
    elif path.suffix == ".json":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise KohyaWrapError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(items, list):
            raise KohyaWrapError(f"{path} must hold a JSON list of prompts")
    else:
        return [p for p in map(parse_prompt_line, text.splitlines()) if p is not None]
    prompts = []
    for item in items:
        if isinstance(item, str):
            item = {"prompt": item}
        if isinstance(item, dict) and str(item.get("prompt", "")).strip():
            prompts.append(Prompt(text=str(item["prompt"]).strip(), negative=str(item.get("negative_prompt", ""))))
    return prompts


def job_sample_prompts(facts: JobFacts) -> list[Prompt]:
    """The job's sample prompts (args.toml's sample_prompts), also when the job folder was moved."""
    candidates = []
    if facts.sample_prompts is not None:
        given = facts.sample_prompts
        candidates.append(given if given.is_absolute() else facts.job_dir / given)
        candidates.append(facts.job_dir / given.name)
    for path in candidates:
        if path.is_file():
            return read_prompts_file(path)
    return []


def caption_of(image: Path, extension: str) -> str | None:
    path = image.with_suffix(extension if extension.startswith(".") else f".{extension}")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def caption_prompts(facts: JobFacts, count: int = DEFAULT_COUNT) -> list[Prompt]:
    """`count` of the dataset's captions spread over it, each with the trigger word; the trigger alone if none."""
    captions: list[str] = []
    for subset in facts.subsets:
        if subset.is_reg:
            continue
        for image in images_of(subset):
            caption = caption_of(image, subset.caption_extension)
            if caption and caption not in captions:
                captions.append(caption)
    trigger = ", ".join(facts.trigger_words)
    if not captions:
        return [Prompt(text=trigger)] if trigger else []
    picked = [captions[round(i * (len(captions) - 1) / max(count - 1, 1))] for i in range(min(count, len(captions)))]
    return [Prompt(text=_with_trigger(text, facts.trigger_words)) for text in dict.fromkeys(picked)]


def _with_trigger(caption: str, words: list[str]) -> str:
    lowered = caption.lower()
    if not words or any(word.lower() in lowered for word in words):
        return caption
    return f"{', '.join(words)}, {caption}"


def default_prompts(facts: JobFacts | None) -> tuple[list[Prompt], str]:
    """The job's prompts and where they came from; KohyaWrapError when there are none."""
    if facts is not None:
        prompts = job_sample_prompts(facts)
        if prompts:
            return prompts, "the job's sample prompts"
        prompts = caption_prompts(facts)
        if prompts:
            return prompts, "the job's captions and trigger word"
    raise KohyaWrapError("No prompts: the LoRA has no job with sample prompts, captions or a trigger word",
                         hint="pass --prompt TEXT (repeatable) or --prompts FILE")

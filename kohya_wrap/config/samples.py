"""Sample prompts taken from the dataset's own captions: `sample.sample_prompts = { from_captions = N }`.

The table stays in job.toml as written (a re-run takes the prompts from the dataset again); the resolved
config holds the prompt list, which the renderer writes to sample_prompts.txt for sd-scripts."""

from __future__ import annotations

from pathlib import Path

from kohya_wrap.errors import ConfigIssue

KEYS = {"from_captions": "how many captions become prompts (1-16)",
        "options": "sd-scripts prompt options added to each, e.g. '--s 28 --l 7' (default: the training "
                    "resolution as --w/--h, and a fixed seed per prompt)"}
MAX_PROMPTS = 16
FIRST_SEED = 42


def table_problem(value: dict) -> str | None:
    """What is wrong with a sample_prompts table, or None."""
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        return f"unknown key {unknown[0]!r} in the sample_prompts table; it takes " + \
            "; ".join(f"{key}: {what}" for key, what in KEYS.items())
    count = value.get("from_captions")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_PROMPTS:
        return f"from_captions must be a whole number from 1 to {MAX_PROMPTS}, got {count!r}"
    if "options" in value and not isinstance(value["options"], str):
        return "options must be a string of sd-scripts prompt options, e.g. '--s 28 --l 7'"
    return None


def expand(data: dict, source) -> list[ConfigIssue]:
    """Replace a sample_prompts table in the argument sections with prompts from the captions (in place).

    Without a dataset (or captions) the table is dropped from the arguments: nothing to sample from, which is
    an error only when the run samples."""
    for section in data.values():
        if isinstance(section, dict) and isinstance(section.get("sample_prompts"), dict):
            table = section.pop("sample_prompts")
            ds = data.get("dataset", {})
            if not ds.get("train_dir"):
                return []
            prompts = prompts_from_captions(Path(ds["train_dir"]), table, _size(ds.get("resolution", 1024)),
                                            ds.get("caption_extension", ".txt"))
            if not prompts and _sampling_on(data):
                return [ConfigIssue("sample.sample_prompts", f"no captions in {ds['train_dir']} to take sample "
                                    "prompts from: give a list of prompts instead", source("sample_prompts"))]
            if prompts:
                section["sample_prompts"] = prompts
    return []


def _sampling_on(data: dict) -> bool:
    """Whether the run samples at all (without a cadence, missing captions only mean no prompts are needed)."""
    return any(section.get(key) for section in data.values() if isinstance(section, dict)
               for key in ("sample_every_n_steps", "sample_every_n_epochs", "sample_at_first"))


def _size(resolution) -> tuple[int, int]:
    sizes = [resolution] if isinstance(resolution, int) else list(resolution)
    return int(sizes[0]), int(sizes[-1])


def prompts_from_captions(train_dir: Path, table: dict, size: tuple[int, int], caption_extension: str) -> list[str]:
    """N distinct caption first lines spread evenly over the training images (class tokens for images without
    a caption), each with the prompt options; the same dataset always gives the same prompts."""
    from kohya_wrap.dataset.captions import first_line, targets

    texts: list[str] = []
    for target in targets(train_dir, caption_extension):
        text = first_line(target) if target.caption is not None else (target.class_tokens or "")
        if text and text not in texts:
            texts.append(text)
    count = min(table["from_captions"], len(texts))
    if count == 0:
        return []
    picked = [texts[round(i * (len(texts) - 1) / max(count - 1, 1))] for i in range(count)] if count > 1 else texts[:1]
    options = table.get("options")
    width, height = size
    return [f"{text} --w {width} --h {height} --d {FIRST_SEED + i}" + (f" {options}" if options else "")
            for i, text in enumerate(picked)]

"""Turn a captioner's output into the caption line to write: mode, trigger, prefix/suffix, unwanted tags (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kohya_wrap.dataset.captions import split_tags

MODES = ("fill", "replace", "append")


@dataclass(frozen=True)
class Style:
    """What the user asked for around the generated text."""

    mode: str = "fill"
    prefix: str = ""
    suffix: str = ""
    trigger: str | None = None
    undesired: tuple[str, ...] = ()
    max_tags: int | None = None  # taggers only: keep the best N tags

    def to_dict(self) -> dict:
        return {"mode": self.mode, "prefix": self.prefix, "suffix": self.suffix, "trigger": self.trigger,
                "undesired_tags": list(self.undesired), "max_tags": self.max_tags}


@dataclass
class Composed:
    text: str
    generated: list[str] = field(default_factory=list)  # the captioner's own tags that were kept

    @property
    def empty(self) -> bool:
        return not self.generated


def parse_tag_list(text: str | None) -> tuple[str, ...]:
    return tuple(split_tags(text or ""))


def generated_tags(result: dict, style: Style) -> list[str]:
    """The captioner's tags (or its one sentence), without unwanted tags, at most max_tags of a tagger's."""
    unwanted = {tag.casefold() for tag in style.undesired}
    if result.get("tags"):
        tags = [tag for tag, _ in result["tags"]]
    else:
        tags = split_tags(result.get("text") or "")
    tags = [tag for tag in tags if tag.casefold() not in unwanted]
    if result.get("tags") and style.max_tags:
        tags = tags[:style.max_tags]
    return tags


def compose(result: dict, existing: str | None, style: Style) -> Composed:
    """trigger, prefix tags, the body, suffix tags, de-duplicated (first one wins, case-insensitive).
    The body is the generated tags (fill, replace), or the existing caption plus new generated tags (append).
    Applying the same style to its own output changes nothing, so a rerun is a no-op."""
    new = generated_tags(result, style)
    body = new
    if style.mode == "append" and existing:
        body = split_tags(existing) + new
    head = ([style.trigger] if style.trigger else []) + list(parse_tag_list(style.prefix))
    tail = list(parse_tag_list(style.suffix))
    fixed = {tag.casefold() for tag in head + tail}
    body = [tag for tag in body if tag.casefold() not in fixed]
    return Composed(", ".join(_unique(head + body + tail)), new)


def _unique(tags: list[str]) -> list[str]:
    seen, kept = set(), []
    for tag in tags:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            kept.append(tag)
    return kept

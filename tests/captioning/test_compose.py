"""Composing the caption line (pure): modes, trigger first, prefix/suffix once, unwanted tags, max tags."""

from __future__ import annotations

from kohya_wrap.captioning.compose import Style, compose

TAGS = {"text": "cat, red hair, smile", "tags": [["cat", 0.9], ["red hair", 0.8], ["smile", 0.5]]}
SENTENCE = {"text": "a cat sitting on a red chair", "tags": []}


def line(result, existing=None, **style):
    return compose(result, existing, Style(**style)).text


def test_fill_and_replace_use_the_generated_text_only():
    assert line(TAGS) == "cat, red hair, smile"
    assert line(SENTENCE, "old caption", mode="replace") == "a cat sitting on a red chair"


def test_append_keeps_the_existing_caption_and_adds_only_new_tags():
    assert line(TAGS, "Cat, blue eyes", mode="append") == "Cat, blue eyes, red hair, smile"
    once = line(TAGS, "blue eyes", mode="append", trigger="ohwx")
    assert line(TAGS, once, mode="append", trigger="ohwx") == once == "ohwx, blue eyes, cat, red hair, smile"


def test_trigger_first_prefix_and_suffix_once():
    styled = {"trigger": "ohwx", "prefix": "pixel art, ", "suffix": "game sprite, 16-bit style"}
    assert line(SENTENCE, **styled) == "ohwx, pixel art, a cat sitting on a red chair, game sprite, 16-bit style"
    assert line({"text": "smile, ohwx, pixel art", "tags": []}, **styled) == \
        "ohwx, pixel art, smile, game sprite, 16-bit style"
    assert line({"text": "", "tags": []}, trigger="ohwx") == "ohwx"


def test_undesired_tags_and_max_tags():
    assert line(TAGS, undesired=("Red Hair",)) == "cat, smile"
    assert line(TAGS, max_tags=2) == "cat, red hair"
    assert line(SENTENCE, max_tags=1) == "a cat sitting on a red chair"  # a sentence is not cut into tags
    empty = compose({"text": "smile", "tags": []}, None, Style(undesired=("smile",)))
    assert empty.empty and empty.text == ""

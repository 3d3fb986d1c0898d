"""sd-scripts' recorded optimizer ('module.Class(k=v,...)') -> its --optimizer_type name and --optimizer_args."""

from __future__ import annotations

# Class names sd-scripts' get_optimizer picks for each --optimizer_type (library/train_util.py at the pin).
NAMES = ("AdamW8bit", "Lion8bit", "PagedAdamW8bit", "PagedLion8bit", "PagedAdamW", "PagedAdamW32bit", "Lion",
         "DAdaptAdam", "DAdaptAdaGrad", "DAdaptAdan", "DAdaptAdanIP", "DAdaptLion", "DAdaptSGD", "DAdaptAdamPreprint",
         "Prodigy", "Adafactor", "AdamW", "RAdamScheduleFree", "AdamWScheduleFree", "SGDScheduleFree")
BY_CLASS = {name.lower(): name for name in NAMES} | {"sgd": "SGDNesterov", "sgd8bit": "SGDNesterov8bit"}


def optimizer_from_metadata(text: str) -> tuple[str, list[str]] | None:
    """'bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.1,betas=(0.9, 0.99))' -> ('AdamW8bit', [...])."""
    text = (text or "").strip()
    if not text or text == "None":
        return None
    path, _, rest = text.partition("(")
    words = split_top_level(rest[:-1] if rest.endswith(")") else rest)
    class_name = path.rsplit(".", 1)[-1]
    name = BY_CLASS.get(class_name.lower(), path)
    if name.startswith("SGDNesterov"):
        words = [word for word in words if word.replace(" ", "") != "nesterov=True"]  # sd-scripts adds it itself
    return name, words


def split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets: 'a=1,b=(1, 2)' -> ['a=1', 'b=(1, 2)']."""
    words, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            words.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        words.append(current.strip())
    return words

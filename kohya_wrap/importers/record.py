"""What an import produced: every value with its source and translation, and what was dropped and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap.errors import KohyaWrapError

WRAPPER = ("meta", "dataset", "launch", "limits", "platform")


def identity(section: str, key: str) -> str:
    """sd-scripts flattens its argument sections, so an argument is one value whichever section holds it."""
    return f"{section}.{key}" if section in WRAPPER else key


class ImportRefused(KohyaWrapError):
    """The source is readable but cannot become an SDXL LoRA preset (another model family, another task)."""


@dataclass
class Value:
    """One preset value and where it came from; `how` is empty when it was carried over unchanged."""

    section: str
    key: str
    value: object
    source: str
    how: str = ""

    @property
    def target(self) -> str:
        return f"{self.section}.{self.key}"

    def to_dict(self) -> dict:
        data = {"key": self.target, "value": self.value, "source": self.source}
        if self.how:
            data["how"] = self.how
        return data


@dataclass
class Dropped:
    """A source field that is not in the preset, and the reason."""

    field: str
    value: object
    reason: str

    def to_dict(self) -> dict:
        return {"field": self.field, "value": self.value, "reason": self.reason}


@dataclass
class Imported:
    """The result of reading one source file: preset values, drops, notes, and the source's identity."""

    fmt: str
    label: str
    source: Path
    noun: str = "field"
    name: str = "imported"
    description: str = ""
    values: dict[str, Value] = field(default_factory=dict)
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def where(self, name) -> str:
        """'kohya_ss JSON field `unet_lr`'; several names (a tuple) for a value built from several fields."""
        if isinstance(name, (tuple, list)):
            names = ", ".join(f"`{item}`" for item in name)
            return f"{self.label} {self.noun}s {names}".replace("  ", " ") if len(name) > 1 else self.where(name[0])
        return f"{self.label} {self.noun} `{name}`".replace("  ", " ")

    def put(self, section: str, key: str, value, source_field, how: str = "") -> None:
        """Set section.key; a later value for the same argument wins (as in sd-scripts), the earlier one is dropped."""
        self.seen.update(source_field if isinstance(source_field, (tuple, list)) else [source_field])
        ident = identity(section, key)
        earlier = self.values.get(ident)
        if earlier is not None:
            self.dropped.append(Dropped(earlier.source, earlier.value, f"overridden by {self.where(source_field)}"))
        self.values[ident] = Value(section, key, value, self.where(source_field), how)

    def drop(self, source_field: str, value, reason: str) -> None:
        self.seen.add(source_field)
        self.dropped.append(Dropped(self.where(source_field), value, reason))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def get(self, target: str, default=None):
        section, _, key = target.partition(".")
        found = self.values.get(identity(section, key))
        return found.value if found else default

    @property
    def carried(self) -> list[Value]:
        return [value for value in self.values.values() if not value.how]

    @property
    def translated(self) -> list[Value]:
        return [value for value in self.values.values() if value.how]

    def tables(self) -> dict[str, dict]:
        nested: dict[str, dict] = {}
        for value in self.values.values():
            nested.setdefault(value.section, {})[value.key] = value.value
        return nested

    def to_dict(self) -> dict:
        return {
            "format": self.fmt,
            "source": str(self.source),
            "carried": [value.to_dict() for value in self.carried],
            "translated": [value.to_dict() for value in self.translated],
            "dropped": [drop.to_dict() for drop in self.dropped],
            "notes": list(self.notes),
        }

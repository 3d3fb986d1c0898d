"""Find, list, show, copy and diff presets (shipped ones by name, or any TOML file by path)."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import PresetError
from kohya_wrap.tomlcompat import TOMLDecodeError, loads


@dataclass(frozen=True)
class PresetInfo:
    """What `presets ls` shows about one preset."""

    name: str
    path: Path
    purpose: str
    vram_gb: float | None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def shipped_names() -> list[str]:
    return sorted(path.stem for path in paths.presets_dir().glob("*.toml"))


def find_preset(name_or_path: str) -> Path:
    """A shipped preset by name, else an existing TOML file path."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate
    shipped = paths.presets_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    if candidate.is_file():
        return candidate
    names = shipped_names()
    from kohya_wrap.presets.suggest import closest

    guess = closest(name_or_path, names)
    hint = f"did you mean {guess!r}? " if guess else ""
    raise PresetError(
        f"No preset or file named {name_or_path!r}.",
        hint=f"{hint}Shipped presets: {', '.join(names)}. Or pass the path of a .toml file.",
    )


def read_preset(path: Path) -> dict:
    try:
        return loads(path.read_text(encoding="utf-8"))
    except TOMLDecodeError as error:
        raise PresetError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise PresetError(f"Cannot read preset {path}: {error.strerror}") from None


def preset_info(path: Path) -> PresetInfo:
    meta = read_preset(path).get("meta", {})
    return PresetInfo(
        name=meta.get("name", path.stem),
        path=path,
        purpose=meta.get("description", ""),
        vram_gb=meta.get("vram_gb"),
    )


def list_presets() -> list[PresetInfo]:
    return [preset_info(paths.presets_dir() / f"{name}.toml") for name in shipped_names()]


def copy_preset(name_or_path: str, dest: Path, force: bool = False) -> Path:
    """Copy a preset (comments included) to DEST, a file or a folder; refuse to overwrite unless forced."""
    source = find_preset(name_or_path)
    dest = Path(dest).expanduser()
    target = dest / source.name if dest.is_dir() else dest
    if target.exists() and not force:
        raise PresetError(f"{target} already exists.", hint="pass --force to overwrite it, or choose another name")
    if target.suffix != ".toml":
        raise PresetError(f"{target} must end in .toml so that it can be used as a preset file.")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    """Nested tables -> {'section.key': value}."""
    flat: dict[str, object] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def diff_presets(a: str, b: str) -> list[tuple[str, object, object]]:
    """(key, value in A, value in B) for every key whose value differs; None means absent."""
    flat_a = flatten(read_preset(find_preset(a)))
    flat_b = flatten(read_preset(find_preset(b)))
    keys = sorted(set(flat_a) | set(flat_b))
    return [(key, flat_a.get(key), flat_b.get(key)) for key in keys if flat_a.get(key) != flat_b.get(key)]

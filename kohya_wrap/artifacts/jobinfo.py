"""What a job folder says about its LoRA: base model, output name, sample prompts, dataset subsets, trigger words.

Reads args.toml and dataset.toml directly (the job core's reader will replace this once it exists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap import tomlcompat
from kohya_wrap.errors import KohyaWrapError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DEFAULT_CAPTION_EXTENSION = ".caption"  # sd-scripts' own default


@dataclass(frozen=True)
class Subset:
    image_dir: Path
    class_tokens: str | None
    is_reg: bool
    caption_extension: str


@dataclass
class JobFacts:
    job_dir: Path
    base_model: str | None = None
    output_name: str | None = None
    sample_prompts: Path | None = None
    subsets: list[Subset] = field(default_factory=list)

    @property
    def trigger_words(self) -> list[str]:
        """The training subsets' class tokens (the words the LoRA was trained to answer), in order, unique."""
        words: list[str] = []
        for subset in self.subsets:
            token = (subset.class_tokens or "").strip()
            if token and not subset.is_reg and token not in words:
                words.append(token)
        return words

    def training_images(self, limit: int = 5000) -> list[Path]:
        images: list[Path] = []
        for subset in self.subsets:
            if not subset.is_reg:
                images.extend(images_of(subset))
        return images[:limit]


def images_of(subset: Subset) -> list[Path]:
    if not subset.image_dir.is_dir():
        return []
    return sorted(p for p in subset.image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read_toml(path: Path) -> dict:
    try:
        return tomlcompat.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomlcompat.TOMLDecodeError) as error:
        raise KohyaWrapError(f"Cannot read {path}: {error}", hint="the job folder's files are damaged") from None


def read_args(job_dir: Path) -> dict:
    """args.toml flattened the way sd-scripts reads it (sections merged, the later key wins)."""
    flat: dict = {}
    for key, value in _read_toml(Path(job_dir) / "args.toml").items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def read_subsets(dataset_toml: Path) -> list[Subset]:
    data = _read_toml(dataset_toml)
    general = data.get("general", {})
    subsets = []
    for dataset in data.get("datasets", []):
        for subset in dataset.get("subsets", []):
            merged = {**general, **{k: v for k, v in dataset.items() if k != "subsets"}, **subset}
            if not merged.get("image_dir"):
                continue
            subsets.append(Subset(image_dir=Path(merged["image_dir"]), class_tokens=merged.get("class_tokens"),
                                  is_reg=bool(merged.get("is_reg", False)),
                                  caption_extension=merged.get("caption_extension", DEFAULT_CAPTION_EXTENSION)))
    return subsets


def job_facts(job_dir: Path) -> JobFacts:
    job_dir = Path(job_dir)
    args = read_args(job_dir)
    prompts = args.get("sample_prompts")
    dataset = Path(args.get("dataset_config") or job_dir / "dataset.toml")
    if not dataset.is_file():
        dataset = job_dir / "dataset.toml"
    return JobFacts(job_dir=job_dir, base_model=args.get("pretrained_model_name_or_path"),
                    output_name=args.get("output_name"),
                    sample_prompts=Path(prompts) if isinstance(prompts, str) and prompts else None,
                    subsets=read_subsets(dataset))

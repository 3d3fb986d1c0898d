"""Typed wrapper-owned sections of a preset (pydantic v2, unknown keys forbidden)."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class MetaSection(Section):
    """What the preset is and what it targets."""

    name: str = "custom"
    description: str = ""
    vram_gb: Optional[float] = Field(default=None, gt=0)
    tags: list[str] = []


class DatasetSection(Section):
    """Where images come from and the dataset-level options written to dataset.toml."""

    train_dir: Optional[str] = None
    reg_dir: Optional[str] = None
    num_repeats: int = Field(default=1, ge=1, description="repeats for a flat folder without N_ prefixes")
    class_tokens: Optional[str] = None
    resolution: Union[int, list[int]] = 1024
    batch_size: int = Field(default=1, ge=1)
    enable_bucket: bool = True
    min_bucket_reso: int = Field(default=512, ge=64)
    max_bucket_reso: int = Field(default=2048, ge=64)
    bucket_reso_steps: int = Field(default=64, ge=1)
    bucket_no_upscale: bool = False
    caption_extension: str = ".txt"
    shuffle_caption: bool = False
    keep_tokens: int = Field(default=0, ge=0)
    caption_dropout_rate: float = Field(default=0.0, ge=0, le=1)
    caption_dropout_every_n_epochs: int = Field(default=0, ge=0)
    caption_tag_dropout_rate: float = Field(default=0.0, ge=0, le=1)
    token_warmup_step: float = Field(default=0, ge=0)
    token_warmup_min: int = Field(default=1, ge=0)
    color_aug: bool = False
    flip_aug: bool = False
    random_crop: bool = False

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution_form(cls, value):
        # one message, not one per member of the Union; '768,1024' is how sd-scripts' own flag is written
        if isinstance(value, (str, float)) or isinstance(value, bool):
            parts = [part.strip() for part in str(value).replace("x", ",").split(",")]
            example = f"[{', '.join(parts)}]" if len(parts) == 2 and all(p.isdigit() for p in parts) else "[1024, 768]"
            raise ValueError(f"resolution {value!r} is not a number or a list: write one size (1024) or "
                             f"[width, height] as a TOML list, e.g. dataset.resolution={example.replace(' ', '')}")
        return value

    @field_validator("resolution")
    @classmethod
    def _resolution_shape(cls, value):
        sizes = [value] if isinstance(value, int) else value
        if len(sizes) not in (1, 2) or any(size < 64 for size in sizes):
            raise ValueError("resolution is one size (1024) or [width, height], each at least 64")
        return value

    @field_validator("caption_extension")
    @classmethod
    def _caption_dot(cls, value: str):
        if not value.startswith("."):
            raise ValueError(f"caption_extension must start with a dot, e.g. '.{value}'")
        return value

    def size(self) -> tuple[int, int]:
        sizes = [self.resolution] if isinstance(self.resolution, int) else list(self.resolution)
        return (sizes[0], sizes[-1])


class LaunchSection(Section):
    """How the trainer is started (written to accelerate.yaml and command.json)."""

    launcher: Literal["accelerate", "python"] = "accelerate"
    num_processes: int = Field(default=1, ge=1)
    num_machines: int = Field(default=1, ge=1)
    num_cpu_threads_per_process: int = Field(default=2, ge=1)
    dynamo_backend: Literal["no", "inductor", "eager", "aot_eager", "cudagraphs"] = "no"
    gpu_ids: Optional[str] = None
    stop_on_nan: bool = True
    grace_seconds: float = Field(default=30.0, gt=0)


class LimitsSection(Section):
    """Cost and time ceilings for one run."""

    max_cost_usd: Optional[float] = Field(default=None, gt=0)
    gpu_hourly_usd: Optional[float] = Field(default=None, ge=0)
    gpu_count: int = Field(default=1, ge=1)
    max_hours: Optional[float] = Field(default=None, gt=0)


class PlatformSection(Section):
    """Platform substitutions the user can switch off or force."""

    substitutions: bool = True
    allow_cpu: bool = False


WRAPPER_SECTIONS: dict[str, type[Section]] = {
    "meta": MetaSection,
    "dataset": DatasetSection,
    "launch": LaunchSection,
    "limits": LimitsSection,
    "platform": PlatformSection,
}

# Sections whose keys are sd-scripts' own arguments, checked against the argument table.
ARG_SECTIONS = ("model", "network", "optimizer", "training", "saving", "logging", "sample", "advanced")

"""Generation settings shared by validate, generate and the Python API, so the same settings give the same image."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.validate._gen_child import SAMPLERS

# Sampler names map onto diffusers schedulers in the child (the one table, so both sides agree); sd-scripts' and
# A1111's spellings are aliases.
ALIASES = {
    "k_euler": "euler", "k_euler_a": "euler_a", "euler_ancestral": "euler_a", "k_heun": "heun",
    "k_dpm_2": "dpm_2", "k_dpm_2_a": "dpm_2_a", "dpmsolver++": "dpmpp_2m", "dpm++_2m": "dpmpp_2m",
    "dpm++_2m_karras": "dpmpp_2m_karras", "uni_pc": "unipc", "dpmpp_2m_sde_gpu": "dpmpp_2m_sde",
}
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "fp32", "fp16", "bf16")


def sampler_name(value: str) -> str:
    """The canonical sampler name for `value` (case and sd-scripts/A1111 spellings accepted)."""
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in SAMPLERS:
        raise KohyaWrapError(f"Unknown sampler {value!r}", hint=f"one of {', '.join(SAMPLERS)}")
    return key


@dataclass
class Prompt:
    text: str
    negative: str = ""


@dataclass
class GenerationSettings:
    """Everything that decides an image besides the prompt, the seed, the LoRA and its strength."""

    width: int = 1024
    height: int = 1024
    steps: int = 25
    cfg: float = 7.0
    sampler: str = "euler"
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self):
        self.sampler = sampler_name(self.sampler)
        problems = []
        for name in ("width", "height"):
            value = getattr(self, name)
            if value < 64 or value % 8:
                problems.append(f"{name} {value} must be a multiple of 8 and at least 64")
        if self.steps < 1:
            problems.append(f"steps {self.steps} must be at least 1")
        if self.cfg < 0:
            problems.append(f"cfg {self.cfg} must not be negative")
        if self.device not in DEVICES:
            problems.append(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if problems:
            raise KohyaWrapError("Generation settings are not valid: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ValidationPlan:
    """What validate renders: prompts x seeds, for the base and each LoRA at each strength."""

    prompts: list[Prompt]
    seeds: list[int]
    strengths: list[float]
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    def __post_init__(self):
        if not self.prompts:
            raise KohyaWrapError("No prompts to render", hint="pass --prompt TEXT or --prompts FILE")
        if not self.seeds:
            raise KohyaWrapError("No seeds given", hint="--seeds 1,2,3")
        if not self.strengths or any(s < 0 for s in self.strengths):
            raise KohyaWrapError(f"Strengths must be given and not negative: {self.strengths}",
                                 hint="--strengths 0,0.5,0.8,1.0")


def parse_size(value: str) -> tuple[int, int]:
    """'1024' or '832x1216' -> (width, height)."""
    text = str(value).lower().replace(" ", "")
    try:
        width, _, height = text.partition("x")
        return int(width), int(height or width)
    except ValueError:
        raise KohyaWrapError(f"Size {value!r} is not a number or WIDTHxHEIGHT", hint="--size 1024 or --size 832x1216") from None


def parse_numbers(value: str, kind: type, what: str) -> list:
    """'1,2,3' -> [1, 2, 3]; a clear error for anything else."""
    try:
        items = [kind(part) for part in str(value).replace(" ", "").split(",") if part]
    except ValueError:
        raise KohyaWrapError(f"{what} {value!r} is not a comma-separated list of numbers",
                             hint=f"for example --{what} 1,2,3") from None
    return list(dict.fromkeys(items))

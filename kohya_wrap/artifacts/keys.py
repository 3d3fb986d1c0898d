"""Does every key of a kohya-format LoRA land on an SDXL layer? Keys the loaders would silently ignore, from the header.

A1111/Forge, ComfyUI and diffusers match a LoRA module by name (lora_unet_* in sd-scripts' original-layout or
diffusers' naming, lora_te1_* / lora_te2_*) and skip a name they do not know with at most a log line; this check
finds those names, shapes that do not fit the layer, and files the diffusers loader refuses.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kohya_wrap.artifacts.header import read_header, tensor_index

TABLE = Path(__file__).with_name("sdxl_modules.json")
PARTS = {"lora_unet_": "unet", "lora_te1_": "te1", "lora_te2_": "te2", "lora_te_": "te1"}
# module suffix -> network format (LoRA as sd-scripts writes it; LyCORIS' algorithms)
SUFFIX_FORMAT = {
    "lora_down.weight": "lora", "lora_up.weight": "lora", "lora_mid.weight": "lora", "alpha": "any",
    "dora_scale": "dora", "scale": "any",
    "hada_w1_a": "loha", "hada_w1_b": "loha", "hada_w2_a": "loha", "hada_w2_b": "loha",
    "hada_t1": "loha", "hada_t2": "loha",
    "lokr_w1": "lokr", "lokr_w1_a": "lokr", "lokr_w1_b": "lokr", "lokr_w2": "lokr", "lokr_w2_a": "lokr",
    "lokr_w2_b": "lokr", "lokr_t2": "lokr",
    "diff": "full", "diff_b": "full", "on_input": "ia3", "weight": "ia3",
    "a1.weight": "glora", "a2.weight": "glora", "b1.weight": "glora", "b2.weight": "glora",
    "oft_blocks": "oft", "oft_diag": "oft", "rescale": "oft", "w_norm": "norm", "b_norm": "norm",
}
LORA_KINDS = ("lora", "dora", "alpha only")
SAMPLE = 20  # names listed per finding; counts are always complete


@functools.lru_cache(maxsize=1)
def sdxl_table() -> dict[str, dict[str, list]]:
    return json.loads(TABLE.read_text(encoding="utf-8"))


@dataclass
class KeyReport:
    path: str
    keys: int = 0
    modules: int = 0
    by_part: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)
    unet_naming: str | None = None  # "sd-scripts" (original layout), "diffusers", "mixed"
    unknown_modules: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)
    shape_mismatches: list[dict] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    diffusers_problems: list[str] = field(default_factory=list)

    @property
    def ignored(self) -> int:
        """Modules A1111/Forge/ComfyUI would load without effect or skip."""
        return len(self.unknown_modules) + len(self.shape_mismatches)

    @property
    def names_ok(self) -> bool:
        """Every key names an SDXL layer (shapes aside: a smaller test model shares SDXL's names)."""
        return not (self.unknown_modules or self.unknown_keys or self.incomplete)

    @property
    def ok(self) -> bool:
        return self.names_ok and not self.shape_mismatches

    def name_problems(self) -> list[str]:
        return [line for line in self.problems() if "do not fit their SDXL layer" not in line]

    def problems(self) -> list[str]:
        lines = []
        if self.unknown_modules:
            lines.append(f"{len(self.unknown_modules)} module(s) match no SDXL layer and would be silently ignored: "
                         + ", ".join(self.unknown_modules[:SAMPLE]))
        if self.unknown_keys:
            lines.append(f"{len(self.unknown_keys)} key(s) are not LoRA keys any loader reads: "
                         + ", ".join(self.unknown_keys[:SAMPLE]))
        if self.shape_mismatches:
            examples = "; ".join(f"{m['module']} is {m['found']} (in, out), the layer {m['expected']}"
                                 for m in self.shape_mismatches[:3])
            lines.append(f"{len(self.shape_mismatches)} module(s) do not fit their SDXL layer's shape (a LoRA for "
                         f"another model?): {examples}")
        if self.incomplete:
            lines.append(f"{len(self.incomplete)} module(s) lack lora_up or lora_down: " + ", ".join(self.incomplete[:SAMPLE]))
        return lines

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(ok=self.ok, names_ok=self.names_ok, ignored=self.ignored, problems=self.problems(),
                    name_problems=self.name_problems())
        for name in ("unknown_modules", "unknown_keys", "incomplete"):
            data[f"{name}_count"] = len(data[name])
        return data


def split_key(key: str) -> tuple[str | None, str, str]:
    """(part, module name, suffix) of a LoRA key; part None for a key with no known prefix."""
    module, _, suffix = key.partition(".")
    part = next((p for prefix, p in PARTS.items() if module.startswith(prefix)), None)
    return part, module, suffix


def _layer(part: str, module: str) -> tuple[list | None, str | None]:
    """(layer shape, unet naming) for a module name, None when SDXL has no such layer."""
    table = sdxl_table()
    if part == "unet":
        if module in table["unet"]:
            return table["unet"][module], "sd-scripts"
        if module in table["unet_diffusers"]:
            return table["unet_diffusers"][module], "diffusers"
        return None, None
    name = module.replace("lora_te_", "lora_te1_", 1) if module.startswith("lora_te_") else module
    return table[part].get(name), None


def format_of(suffixes) -> str:
    """The network format of one module from its key suffixes."""
    kinds = {SUFFIX_FORMAT[s] for s in suffixes} - {"any"}
    if not kinds:
        return "alpha only"
    if kinds <= {"lora", "dora"}:
        return "dora" if "dora" in kinds else "lora"
    return "+".join(sorted(kinds))


def _lora_in_out(shapes: dict[str, list]) -> tuple[int, int] | None:
    down, up = shapes.get("lora_down.weight"), shapes.get("lora_up.weight")
    if not down or not up or len(down) < 2:
        return None
    return down[1], up[0]


def check_keys(path: Path) -> KeyReport:
    """The key report of a LoRA file, from its header alone."""
    header, _ = read_header(Path(path))
    index = tensor_index(header)
    report = KeyReport(path=str(path), keys=len(index))
    modules: dict[tuple[str, str], dict[str, list]] = {}
    for key, info in index.items():
        part, module, suffix = split_key(key)
        if part is None or suffix not in SUFFIX_FORMAT:
            report.unknown_keys.append(key)
            continue
        modules.setdefault((part, module), {})[suffix] = info.get("shape") or []
    namings = set()
    for (part, module), shapes in sorted(modules.items()):
        report.by_part[part] = report.by_part.get(part, 0) + 1
        kind = format_of(shapes)
        report.formats[kind] = report.formats.get(kind, 0) + 1
        layer, naming = _layer(part, module)
        if layer is None:
            report.unknown_modules.append(module)
            continue
        if naming:
            namings.add(naming)
        if kind in LORA_KINDS:
            _check_lora_module(report, module, shapes, layer)
    report.modules = len(modules)
    report.unet_naming = None if not namings else namings.pop() if len(namings) == 1 else "mixed"
    report.diffusers_problems = _diffusers_problems(report)
    return report


def _check_lora_module(report: KeyReport, module: str, shapes: dict[str, list], layer: list) -> None:
    if "lora_down.weight" not in shapes or "lora_up.weight" not in shapes:
        report.incomplete.append(module)
        return
    found = _lora_in_out(shapes)
    expected = (layer[0], layer[1])
    if found is not None and found != expected:
        report.shape_mismatches.append({"module": module, "expected": list(expected), "found": list(found)})


def _diffusers_problems(report: KeyReport) -> list[str]:
    """Why diffusers' kohya loader (load_lora_weights, 0.32) would refuse or drop parts of this file."""
    problems = []
    others = {kind: n for kind, n in report.formats.items() if kind not in LORA_KINDS}
    if others:
        problems.append("diffusers loads only LoRA (lora_down/lora_up) from kohya files; this one also has "
                        + ", ".join(f"{n} {kind} module(s)" for kind, n in sorted(others.items())))
    if report.unet_naming == "mixed":
        problems.append("the U-Net keys mix sd-scripts' and diffusers' layer names; diffusers refuses that")
    if report.formats.get("dora"):
        problems.append("diffusers drops the DoRA scales of kohya files (the LoRA loads as plain LoRA)")
    return problems

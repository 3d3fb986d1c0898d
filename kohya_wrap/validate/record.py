"""validation.json: settings, every image, the checks, how several LoRAs compare, and a one-line summary."""

from __future__ import annotations

import itertools
import secrets
import time
from pathlib import Path

from kohya_wrap.fileio import write_json_atomic
from kohya_wrap.validate.checks import mean_abs_diff, pixels
from kohya_wrap.validate.grid import Column, Row, make_grid

KIND = "kohya-wrap validation"
VERSION = 1


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def strength_label(value: float) -> str:
    return f"{value:g}"


def grid_layout(images: list[dict], prompts: list[str], loras: list[str], strengths: list[float],
                zero_is_base: bool) -> tuple[list[Row], list[Column]]:
    """Rows prompt x seed; columns the base, then each LoRA at each strength (strength 0 folds into the base
    column when it rendered the base exactly)."""
    seeds = list(dict.fromkeys(i["seed"] for i in images))
    rows = [Row((p, s), f"{prompts[p]}  (seed {s})") for p in range(len(prompts)) for s in seeds]
    shown = [s for s in strengths if not (s == 0 and zero_is_base)]
    base_label = "base (= strength 0)" if zero_is_base and 0 in strengths else "base"
    columns = [Column((None, None), base_label)]
    columns += [Column((lora, s), f"{lora} @ {strength_label(s)}") for lora in loras for s in shown]
    return rows, columns


def write_grid(run_dir: Path, images: list[dict], prompts: list[str], loras: list[str], strengths: list[float],
               zero_is_base: bool) -> dict:
    rows, columns = grid_layout(images, prompts, loras, strengths, zero_is_base)
    cells = {((i["prompt_index"], i["seed"]), (i["lora"], i["strength"])): run_dir / i["path"] for i in images}
    return make_grid(rows, columns, cells, run_dir / "grid.png")


def compare_loras(images: list[dict], run_dir: Path, effects: dict[str, dict[str, float]]) -> dict:
    """How far each LoRA moves the base, and how far apart each pair of LoRAs is, on the same prompts and seeds."""
    by_cell = {(i["lora"], i["strength"], i["prompt_index"], i["seed"]): i for i in images if i["lora"] is not None}
    names = list(effects)
    pairwise = []
    for a, b in itertools.combinations(names, 2):
        for strength in sorted({k[1] for k in by_cell if k[0] == a} & {k[1] for k in by_cell if k[0] == b}):
            if strength == 0:
                continue
            diffs = [mean_abs_diff(pixels(run_dir / by_cell[(a, strength, p, s)]["path"]),
                                   pixels(run_dir / by_cell[(b, strength, p, s)]["path"]))
                     for (lora, st, p, s) in by_cell if lora == a and st == strength and (b, st, p, s) in by_cell]
            if diffs:
                pairwise.append({"a": a, "b": b, "strength": strength, "mean_abs_diff": round(sum(diffs) / len(diffs), 4)})
    return {"effect": effects, "pairwise": pairwise, "lines": comparison_lines(effects, pairwise)}


def _top_effect(by_strength: dict[str, float]) -> tuple[str, float] | None:
    nonzero = [(float(s), v) for s, v in by_strength.items() if float(s) > 0]
    if not nonzero:
        return None
    strength, value = max(nonzero)
    return strength_label(strength), value


def comparison_lines(effects: dict[str, dict[str, float]], pairwise: list[dict]) -> list[str]:
    lines = []
    tops = {name: _top_effect(by) for name, by in effects.items()}
    for name, top in tops.items():
        if top:
            lines.append(f"{name} changes the base image by {top[1]:.2f} levels (mean |difference|, 0-255) "
                         f"at strength {top[0]}")
    ranked = sorted((top[1], name) for name, top in tops.items() if top)
    if len(ranked) > 1:
        lines.append(f"strongest effect: {ranked[-1][1]}; weakest: {ranked[0][1]}")
    for pair in pairwise:
        lines.append(f"{pair['a']} and {pair['b']} differ by {pair['mean_abs_diff']:.2f} levels at strength "
                     f"{strength_label(pair['strength'])}")
    return lines


def problems_of(checks: dict, loras: list[dict]) -> list[str]:
    problems = []
    if not checks["finite"]["ok"]:
        problems.append(f"{len(checks['finite']['bad'])} image(s) have NaN/Inf pixels")
    zero = checks["strength0_identical_to_base"]
    if not zero["ok"]:
        problems.append(f"{len(zero['mismatches'])} strength-0 image(s) differ from the base")
    for name in checks["pixel_difference"]["no_effect"]:
        problems.append(f"{name} changes nothing (under {checks['pixel_difference']['threshold']} levels)")
    copies = checks["training_copy"].get("flagged", [])
    if copies:
        problems.append(f"{len(copies)} image(s) are near copies of training images (pHash distance <= "
                        f"{checks['training_copy']['threshold']})")
    for lora in loras:
        if not lora.get("all_injected", True):
            problems.append(f"{lora['name']}: only {lora['injected']} of {lora['expected']} LoRA layers were applied")
        problems.extend(f"{lora['name']}: {p}" for p in lora.get("key_problems", []))
    return problems


def summary_line(record: dict) -> str:
    settings = record["settings"]
    head = (f"Validated {record['created_at'][:10]} (run {record['run_id']}): {len(settings['prompts'])} prompt(s) x "
            f"{len(settings['seeds'])} seed(s) at {settings['width']}x{settings['height']}, {settings['steps']} steps")
    effects = [line for line in record["comparison"]["lines"] if "changes the base" in line]
    tail = "; ".join(record["problems"]) if record["problems"] else "all checks passed"
    return f"{head}. {'; '.join(effects)}. {tail}." if effects else f"{head}. {tail}."


def registry_summary(record: dict, run_dir: Path) -> dict:
    """What a model version records about its validation (the registry and report.html read this)."""
    return {"run_id": record["run_id"], "path": str(run_dir / "validation.json"), "grid": str(run_dir / "grid.png"),
            "ok": record["ok"], "problems": record["problems"], "effect": record["comparison"]["effect"],
            "summary": record["summary_line"]}


def write_record(run_dir: Path, record: dict) -> Path:
    record["problems"] = problems_of(record["checks"], record["loras"])
    record["ok"] = not record["problems"]
    record["summary_line"] = summary_line(record)
    path = run_dir / "validation.json"
    write_json_atomic(path, record)
    return path

"""A labelled image grid (Pillow): one row per prompt x seed, one column per base / LoRA x strength."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

MAX_CELL = 512
MIN_COLUMN = 150  # small images get a wider column, so the labels stay readable
LABEL_WIDTH = 240
HEADER_HEIGHT = 52
PAD = 4
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MISSING = (230, 230, 230)


@dataclass(frozen=True)
class Column:
    key: tuple[str | None, float | None]  # (LoRA name or None for the base, strength)
    label: str


@dataclass(frozen=True)
class Row:
    key: tuple[int, int]  # (prompt index, seed)
    label: str


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        return ImageFont.load_default()


def _cell_size(paths: list[Path]) -> tuple[int, int]:
    from PIL import Image

    for path in paths:
        if path.is_file():
            with Image.open(path) as image:
                width, height = image.size
            scale = min(1.0, MAX_CELL / max(width, height))
            return max(1, round(width * scale)), max(1, round(height * scale))
    return MAX_CELL, MAX_CELL


def _write(draw, box: tuple[int, int, int, int], text: str, font, size: int) -> None:
    left, top, right, bottom = box
    chars = max(8, int((right - left) / (size * 0.55)))
    lines = textwrap.wrap(text, width=chars) or [""]
    max_lines = max(1, (bottom - top) // (size + 2))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, chars - 1)] + "…"
    for n, line in enumerate(lines):
        draw.text((left, top + n * (size + 2)), line, fill=INK, font=font)


def make_grid(rows: list[Row], columns: list[Column], cells: dict[tuple, Path], out: Path) -> dict:
    """Write the grid PNG; `cells` maps (row key, column key) to an image. Returns its layout."""
    from PIL import Image, ImageDraw

    cell_w, cell_h = _cell_size(list(cells.values()))
    column_w = max(cell_w, MIN_COLUMN)
    inset = (column_w - cell_w) // 2
    width = LABEL_WIDTH + len(columns) * (column_w + PAD) + PAD
    height = HEADER_HEIGHT + len(rows) * (cell_h + PAD) + PAD
    grid = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    size = 14
    font = _font(size)
    for c, column in enumerate(columns):
        left = LABEL_WIDTH + PAD + c * (column_w + PAD)
        _write(draw, (left, PAD, left + column_w, HEADER_HEIGHT - PAD), column.label, font, size)
    for r, row in enumerate(rows):
        top = HEADER_HEIGHT + PAD + r * (cell_h + PAD)
        _write(draw, (PAD, top, LABEL_WIDTH - PAD, top + cell_h), row.label, font, size)
        for c, column in enumerate(columns):
            left = LABEL_WIDTH + PAD + c * (column_w + PAD) + inset
            path = cells.get((row.key, column.key))
            if path is None or not path.is_file():
                draw.rectangle((left, top, left + cell_w - 1, top + cell_h - 1), fill=MISSING)
                continue
            with Image.open(path) as image:
                grid.paste(image.convert("RGB").resize((cell_w, cell_h)), (left, top))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial.png")
    grid.save(partial, format="PNG")
    partial.replace(out)
    return {"path": out.name, "rows": [r.label for r in rows], "columns": [c.label for c in columns],
            "cell": [cell_w, cell_h], "column_width": column_w, "size": [width, height]}

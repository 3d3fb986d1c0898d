"""Image conversion for `data prepare` (runs in worker processes): orientation, mode, alpha, resize, format."""

from __future__ import annotations

import io
import math
from pathlib import Path

from kohya_wrap.fileio import write_bytes_atomic

SAVE_OPTIONS = {".png": ("PNG", {}), ".webp": ("WEBP", {"lossless": True}), ".jpg": ("JPEG", {"quality": 95}),
                ".jpeg": ("JPEG", {"quality": 95}), ".bmp": ("BMP", {})}


def convert_image(job: tuple[str, str, dict]) -> str | None:
    """job = (source, destination, options) -> None, or why it failed. Never touches the source file."""
    try:
        _convert(*job)
    except Exception as exc:  # one bad image must not stop the other conversions; reported as a finding
        return f"{type(exc).__name__}: {exc}"
    return None


def _convert(source: str, dest: str, options: dict) -> None:
    import warnings

    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # refuse, never decode a bomb
        with Image.open(source) as opened:
            opened.seek(0)  # animated: the first frame, the one sd-scripts would train on
            image = ImageOps.exif_transpose(opened)
            image = _to_trainable_mode(image, options.get("flatten_rgb"), Path(dest).suffix.lower())
            if options.get("resize"):
                image = _resize(image, options["resize"], options.get("fit"), options.get("resample", "lanczos"),
                                options.get("flatten_rgb"))
            fmt, params = SAVE_OPTIONS[Path(dest).suffix.lower()]
            buffer = io.BytesIO()
            image.save(buffer, format=fmt, **params)
    write_bytes_atomic(Path(dest), buffer.getvalue())


def _to_trainable_mode(image, flatten_rgb, suffix: str):
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        import numpy as np

        values = np.asarray(image, dtype=np.uint32)
        shift = 8 if values.max(initial=0) > 255 else 0  # real 16-bit data: keep the top 8 bits, not a clip
        return Image.fromarray((values >> shift).clip(0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        return image.convert("L")
    if (image.mode == "P" and "transparency" in image.info) or image.mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        if flatten_rgb is not None or suffix in (".jpg", ".jpeg", ".bmp"):
            canvas = Image.new("RGB", image.size, tuple(flatten_rgb or (0, 0, 0)))
            canvas.paste(image, mask=image.getchannel("A"))
            return canvas
        return image
    if image.mode not in ("RGB", "L"):
        return image.convert("RGB")
    return image


def _resize(image, size: int, fit: str | None, resample: str, flatten_rgb):
    from PIL import Image

    method = Image.Resampling.NEAREST if resample == "nearest" else Image.Resampling.LANCZOS
    width, height = image.size
    if fit is None:
        if width * height <= size * size:
            return image  # only shrink: sd-scripts upscales to the bucket itself
        scale = math.sqrt(size * size / (width * height))
        return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), method)
    scale = max(size / width, size / height) if fit == "crop" else min(size / width, size / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    image = image.resize((new_w, new_h), method)
    if fit == "crop":
        left, top = (new_w - size) // 2, (new_h - size) // 2
        return image.crop((left, top, left + size, top + size))
    fill = (0, 0, 0, 0) if image.mode == "RGBA" else tuple(flatten_rgb or (0, 0, 0))
    canvas = Image.new(image.mode, (size, size), fill if image.mode != "L" else fill[0])
    canvas.paste(image, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas

"""Turn raw per-file facts into findings (pure): what each fact means for an sd-scripts SDXL run."""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kohya_wrap.dataset.findings import Finding, error, info, warning

PREPARE = "`kohya-wrap data prepare`"
NORMALISE = "`kohya-wrap data captions DIR normalise`"
FORMAT_SUFFIXES = {"PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "WEBP": (".webp",), "BMP": (".bmp",)}
HIGH_BIT_GREY = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
ODD_MODES = {"YCbCr", "LAB", "HSV"}
ORIENTATION_WORDS = {2: "mirrored", 3: "upside down", 4: "flipped vertically", 5: "transposed",
                     6: "rotated 90 degrees", 7: "transversed", 8: "rotated 270 degrees"}


@dataclass(frozen=True)
class ImageRules:
    resolution: tuple[int, int]
    min_bucket_reso: int
    aspect_range: tuple[float, float]  # narrowest and widest bucket aspect ratio


def stat_problem(path: Path, allow_empty: bool = False) -> Finding | None:
    """Problems visible from the directory entry alone; None when it is a readable-looking regular file.
    allow_empty: a 0-byte file is left to the content rules (an empty caption has its own finding)."""
    return stat_entry(path, allow_empty)[0]


def stat_entry(path: Path, allow_empty: bool = False) -> tuple[Finding | None, os.stat_result | None]:
    """(problem, stat result) from one system call; the stat result also keys the cache."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return error("broken-link", path, "Symbolic link to a file that does not exist; sd-scripts fails on it.",
                     "Fix or delete the link."), None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return error("symlink-loop", path, "Symbolic link loop; the file can never be opened.",
                         "Delete the link or point it at a real file."), None
        return error("unreadable", path, f"Cannot stat the file: {exc.strerror}.", "Check permissions."), None
    if stat.S_ISDIR(st.st_mode):
        return error("not-a-file", path, "A folder whose name ends like an image; sd-scripts tries to open it "
                     "as an image and fails.", "Rename the folder."), st
    if not stat.S_ISREG(st.st_mode):
        return error("not-a-file", path, "Not a regular file (pipe, socket or device); sd-scripts would block "
                     "or fail reading it.", "Remove it from the dataset folder."), st
    if st.st_size == 0 and not allow_empty:
        return error("zero-byte", path, "Empty (0-byte) file.", "Delete it or copy the image again."), st
    return None, st


def judge_image(path: Path, facts: dict, rules: ImageRules) -> list[Finding]:
    if "read_error" in facts:
        return [error("unreadable", path, f"Cannot read the file: {facts['read_error']}.", "Check permissions.")]
    if facts.get("bomb"):
        return [error("decompression-bomb", path, f"Refused without decoding: {facts['open_error']}",
                      "Downscale it with another tool first; Pillow will not open it safely.")]
    if facts.get("open_error") == "unidentified":
        return [error("not-an-image", path, "Pillow cannot identify this file as an image (wrong content or "
                      "a format Pillow cannot read).", "Re-export it as PNG or JPEG, or remove it.")]
    if "open_error" in facts:
        return [error("unreadable-image", path, f"Pillow fails to open it: {facts['open_error']}.",
                      "Re-export it as PNG or JPEG, or remove it.")]
    if "decode_error" in facts:
        message = facts["decode_error"]
        code = "truncated" if "truncat" in message.lower() else "corrupt"
        return [error(code, path, f"Image data is damaged ({message}); sd-scripts would crash when it "
                      "reaches this image.", "Re-copy or re-export the file, or remove it.")]
    return _format_findings(path, facts) + _size_findings(path, facts, rules)


def _format_findings(path: Path, facts: dict) -> list[Finding]:
    found, mode, fmt = [], facts.get("mode"), facts.get("format")
    suffix = path.suffix.lower()
    if fmt in FORMAT_SUFFIXES and suffix not in FORMAT_SUFFIXES[fmt]:
        found.append(info("wrong-extension", path, f"{fmt} data under a {suffix} name; Pillow reads it anyway."))
    elif fmt not in FORMAT_SUFFIXES:
        found.append(info("unusual-format", path, f"{fmt} data under a {suffix} name; Pillow reads it anyway.",
                          f"Convert with {PREPARE} --format png."))
    if mode == "CMYK":
        found.append(warning("cmyk", path, "CMYK image: converted to RGB without colour management; colours shift.",
                             f"Convert to RGB with {PREPARE}."))
    elif mode in HIGH_BIT_GREY:
        found.append(error("16-bit", path, f"High-bit-depth greyscale (mode {mode}): sd-scripts' RGB conversion "
                           "clips it, so the image trains as nearly white.", f"Convert with {PREPARE}."))
    elif facts.get("bit_depth") == 16:
        found.append(warning("16-bit", path, "16-bit PNG: read as 8 bits per channel.",
                             f"Convert with {PREPARE} to control the conversion."))
    if mode == "P" and facts.get("transparency"):
        found.append(warning("palette-transparency", path, "Palette image with transparency: transparent pixels "
                             "train as their palette colour.", f"Use {PREPARE} --flatten-alpha white."))
    elif mode in ALPHA_MODES:
        found.append(warning("alpha", path, f"Has an alpha channel ({mode}): sd-scripts drops it, so transparent "
                             "areas train as whatever colour they hide (often black).",
                             f"Use {PREPARE} --flatten-alpha white."))
    elif mode in ODD_MODES:
        found.append(warning("unusual-mode", path, f"Colour mode {mode} is converted to RGB.",
                             f"Convert with {PREPARE}."))
    orientation = facts.get("orientation", 1)
    if orientation in ORIENTATION_WORDS:
        found.append(warning("exif-orientation", path, f"EXIF says the photo is {ORIENTATION_WORDS[orientation]}; "
                             "sd-scripts ignores EXIF, so it trains as stored, not as viewers show it.",
                             f"{PREPARE} applies the rotation."))
    if facts.get("frames", 1) > 1:
        found.append(warning("animated", path, f"Animated image ({facts['frames']} frames): only the first is used.",
                             "Export the frame you want as a still image."))
    return found


def _size_findings(path: Path, facts: dict, rules: ImageRules) -> list[Finding]:
    width, height = facts.get("width", 0), facts.get("height", 0)
    if not width or not height:
        return []
    found = []
    area = rules.resolution[0] * rules.resolution[1]
    factor = math.sqrt(area / (width * height))
    if min(width, height) < rules.min_bucket_reso:
        stretch = rules.min_bucket_reso / min(width, height)
        found.append(warning("below-min-bucket", path, f"{width}x{height}: the short side is below min_bucket_reso "
                             f"{rules.min_bucket_reso}, so it is upscaled at least {stretch:.1f}x and trains blurry.",
                             "Use a larger source image or drop it."))
    elif width * height < area:
        found.append(info("below-resolution", path, f"{width}x{height} is smaller than the training resolution "
                          f"{rules.resolution[0]}x{rules.resolution[1]}: upscaled about {factor:.1f}x."))
    aspect, (narrow, wide) = width / height, rules.aspect_range
    if aspect < narrow / 1.25 or aspect > wide * 1.25:
        found.append(warning("extreme-aspect", path, f"Aspect ratio {aspect:.2f} lies far outside the buckets "
                             f"({narrow:.2f}..{wide:.2f}): much of the image is cropped away.",
                             "Crop it closer to the subject, or pad it with data prepare --pad."))
    return found


def judge_caption(path: Path, facts: dict, tokens: int | None, token_limit: int) -> list[Finding]:
    if "read_error" in facts:
        return [error("caption-unreadable", path, f"Cannot read the caption: {facts['read_error']}.")]
    if facts.get("bytes", 0) == 0:
        return [error("empty-caption", path, "Empty caption file: sd-scripts stops with "
                      "'AssertionError: caption file is empty'.", "Write a caption, or delete the file to fall "
                      "back to the class tokens.")]
    if "utf8_error" in facts:
        kind = "UTF-16 text" if facts.get("utf16_bom") else f"not UTF-8 ({facts['utf8_error']})"
        return [error("caption-not-utf8", path, f"Caption is {kind}: sd-scripts stops with UnicodeDecodeError.",
                      f"Re-encode as UTF-8: {NORMALISE}.")]
    found = []
    if facts.get("bom"):
        found.append(warning("caption-bom", path, "Starts with a UTF-8 BOM: sd-scripts keeps it glued to the first "
                             "word (often the trigger word).", f"Remove it: {NORMALISE}."))
    if not facts.get("nonblank_lines"):
        found.append(warning("blank-caption", path, "Caption holds only whitespace: trains with an empty caption.",
                             "Write a caption, or delete the file to fall back to the class tokens."))
    elif not facts.get("first_line"):
        found.append(warning("caption-first-line-empty", path, "The first line is empty and sd-scripts only uses "
                             "the first line: trains with an empty caption.", f"Join the lines: {NORMALISE}."))
    elif facts.get("nonblank_lines", 0) > 1:
        found.append(warning("caption-multiline", path, f"{facts['nonblank_lines']} lines of text: sd-scripts uses "
                             "only the first.", f"Join the lines: {NORMALISE}."))
    if facts.get("lone_cr"):
        found.append(warning("caption-cr", path, "Contains a bare CR: Python reads it as a line break, so only the "
                             "text before it is used.", f"Fix line endings: {NORMALISE}."))
    elif facts.get("crlf"):
        found.append(info("caption-crlf", path, "Windows (CRLF) line endings: harmless, read as LF.",
                          f"Normalise with {NORMALISE}."))
    if facts.get("control_chars"):
        found.append(warning("caption-control-chars", path, "Contains control characters.", f"Clean: {NORMALISE}."))
    if tokens is not None and tokens > token_limit:
        found.append(warning("caption-too-long", path, f"{tokens} tokens: more than the limit of {token_limit}, "
                             "the rest is cut off.", "Shorten it, or raise max_token_length (75/150/225)."))
    return found

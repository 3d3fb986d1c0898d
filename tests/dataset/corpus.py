"""Generate the fault corpus: a dataset tree with one malformed file or folder per case (no committed binaries)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

SUBSET = "10_ohwx woman"


@dataclass
class Case:
    name: str
    code: str
    rel: str | None  # path the finding is about, relative to the corpus root (None: no path)
    needs_decode: bool = False


def _save(path: Path, image: Image.Image, fmt: str, **params) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **params)


def _noisy(size, seed: int, mode="RGB") -> Image.Image:
    """Cheap to encode yet unique: a seed-coloured canvas with a 32x32 patch of seeded noise."""
    colour = tuple(hashlib.sha256(str(seed).encode()).digest()[: len(mode)])
    image = Image.new(mode, size, colour if len(mode) > 1 else colour[0])
    side = (min(32, size[0]), min(32, size[1]))
    patch = hashlib.shake_256(str(seed).encode()).digest(side[0] * side[1] * len(mode))
    image.paste(Image.frombytes(mode, side, patch), (0, 0))
    return image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, pixels: bytes | None = None) -> bytes:
    """A PNG written by hand: for 16-bit RGB (Pillow cannot write it) and huge-header bombs."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = zlib.compress(pixels if pixels is not None else b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _rgb16(width=1024, height=1024) -> bytes:
    row = b"\0" + bytes(range(256)) * (width * 6 // 256)
    return raw_png(width, height, 16, 2, row * height)


def _exif_jpeg(path: Path, orientation: int, seed: int) -> None:
    image = _noisy((1280, 1024), seed)
    exif = Image.Exif()
    exif[0x0112] = orientation
    _save(path, image, "JPEG", exif=exif.tobytes())


def _animated(path: Path, fmt: str, seed: int) -> None:
    frames = [_noisy((1024, 1024), seed + i) for i in range(3)]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100)


def build(root: Path) -> list[Case]:
    """Write the corpus under root
    returns the cases and the finding each must produce."""
    s = root / SUBSET
    s.mkdir(parents=True)
    cases: list[Case] = []

    def case(name, code, rel, needs_decode=False):
        cases.append(Case(name, code, rel, needs_decode))

    def put(rel: str, data: bytes) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def good(rel: str, seed: int, size=(1024, 1024)) -> Path:
        path = root / rel
        _save(path, _noisy(size, seed), "PNG")
        return path

    sub = f"{SUBSET}/"
    # files that cannot be read as images at all
    put(sub + "zero.png", b"")
    case("zero-byte png", "zero-byte", sub + "zero.png")
    put(sub + "zero.jpg", b"")
    case("zero-byte jpg", "zero-byte", sub + "zero.jpg")
    noisy_png = io.BytesIO()
    _noisy((512, 512), 7).save(noisy_png, "PNG")
    put(sub + "cut.png", noisy_png.getvalue()[: len(noisy_png.getvalue()) // 2])
    case("truncated png", "truncated", sub + "cut.png", True)
    jpeg = io.BytesIO()
    _noisy((1024, 1024), 8).save(jpeg, "JPEG", quality=90)
    put(sub + "cut.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    case("truncated jpeg", "truncated", sub + "cut.jpg", True)
    webp = io.BytesIO()
    _noisy((1024, 1024), 9).save(webp, "WEBP", quality=80)
    put(sub + "cut.webp", webp.getvalue()[: len(webp.getvalue()) // 2])
    case("truncated webp", "unreadable-image", sub + "cut.webp")
    put(sub + "noise.jpg", hashlib.shake_256(b"noise").digest(4096))
    case("random bytes", "not-an-image", sub + "noise.jpg")
    put(sub + "notes.png", b"these are my notes, not an image\n")
    case("text as png", "not-an-image", sub + "notes.png")
    put(sub + "page.webp", b"<html><body>404</body></html>")
    case("html as webp", "not-an-image", sub + "page.webp")
    put(sub + "vector.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    case("svg as png", "not-an-image", sub + "vector.png")
    # colour modes and bit depths
    _save(s / "cmyk.jpg", _noisy((1024, 1024), 10).convert("CMYK"), "JPEG")
    case("cmyk jpeg", "cmyk", sub + "cmyk.jpg")
    grey16 = Image.frombytes("I;16", (1024, 1024), hashlib.shake_256(b"g16").digest(1024 * 1024 * 2))
    _save(s / "grey16.png", grey16, "PNG")
    case("16-bit grey png", "16-bit", sub + "grey16.png")
    put(sub + "rgb16.png", _rgb16())
    case("16-bit rgb png", "16-bit", sub + "rgb16.png")
    palette = _noisy((1024, 1024), 11).convert("P")
    _save(s / "palette.png", palette, "PNG", transparency=0)
    case("palette with transparency", "palette-transparency", sub + "palette.png")
    _save(s / "la.png", _noisy((1024, 1024), 12, "LA"), "PNG")
    case("LA png", "alpha", sub + "la.png")
    _save(s / "rgba.png", _noisy((1024, 1024), 13, "RGBA"), "PNG")
    case("RGBA png", "alpha", sub + "rgba.png")
    _save(s / "rgba.webp", _noisy((1024, 1024), 14, "RGBA"), "WEBP", lossless=True)
    case("RGBA webp", "alpha", sub + "rgba.webp")
    _save(s / "tiff-data.png", _noisy((1024, 1024), 15), "TIFF")
    case("tiff named png", "unusual-format", sub + "tiff-data.png")
    _save(s / "png-data.jpg", _noisy((1024, 1024), 16), "PNG")
    case("png named jpg", "wrong-extension", sub + "png-data.jpg")
    # orientation, animation, size
    for orientation in (3, 6, 8):
        _exif_jpeg(s / f"exif{orientation}.jpg", orientation, 20 + orientation)
        case(f"exif orientation {orientation}", "exif-orientation", sub + f"exif{orientation}.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(s / "exif-png.png", _noisy((1280, 1024), 29), "PNG", exif=exif.tobytes())
    case("exif orientation in a png", "exif-orientation", sub + "exif-png.png")
    _animated(s / "anim.png", "PNG", 30)
    case("animated png", "animated", sub + "anim.png")
    _animated(s / "anim.webp", "WEBP", 40)
    case("animated webp", "animated", sub + "anim.webp")
    _animated(s / "gif-data.png", "GIF", 50)
    case("animated gif named png", "animated", sub + "gif-data.png")
    put(sub + "bomb.png", raw_png(20000, 20000, 8, 0))
    case("bomb over 2x limit", "decompression-bomb", sub + "bomb.png")
    put(sub + "bomb-soft.png", raw_png(10000, 10000, 8, 0))
    case("bomb in warning zone", "decompression-bomb", sub + "bomb-soft.png")
    good(sub + "tiny.png", 60, (100, 100))
    case("below min bucket", "below-min-bucket", sub + "tiny.png")
    good(sub + "small.png", 61, (512, 512))
    case("below resolution", "below-resolution", sub + "small.png")
    good(sub + "strip.png", 62, (4000, 200))
    case("extreme aspect", "extreme-aspect", sub + "strip.png")
    # duplicates
    original = good(sub + "original.png", 70)
    shutil.copyfile(original, s / "original2.png")
    case("duplicate content", "duplicate-image", sub + "original2.png")
    good(sub + "twin.png", 71)
    _save(s / "twin.jpg", _noisy((1024, 1024), 72), "JPEG")
    put(sub + "twin.txt", b"ohwx woman, twin")
    case("duplicate stem", "duplicate-stem", sub + "twin.png")
    # directory entries that are not image files
    (s / "folder.png").mkdir()
    case("folder named png", "not-a-file", sub + "folder.png")
    os.mkfifo(s / "pipe.png")
    case("fifo named png", "not-a-file", sub + "pipe.png")
    os.symlink(s / "does-not-exist.png", s / "dangling.png")
    case("broken link", "broken-link", sub + "dangling.png")
    os.symlink(s / "loop.png", s / "loop.png")
    case("symlink loop", "symlink-loop", sub + "loop.png")
    good(sub + ".hidden.png", 80)
    case("hidden file", "hidden-file", sub + ".hidden.png")
    good(sub + "mixed.Png", 81)
    case("mixed-case extension", "ext-case", sub + "mixed.Png")
    good(sub + "mixed2.jPG", 82)
    case("mixed-case jpg", "ext-case", sub + "mixed2.jPG")
    _save(s / "still.gif", _noisy((256, 256), 83).convert("P"), "GIF")
    case("gif", "unsupported-format", sub + "still.gif")
    _save(s / "scan.tiff", _noisy((256, 256), 84), "TIFF")
    case("tiff", "unsupported-format", sub + "scan.tiff")
    put(sub + "photo.avif", b"\0\0\0\x1cftypavif")
    case("avif", "ext-needs-plugin", sub + "photo.avif")
    good(sub + "extra/inner.png", 85)
    case("nested image", "nested-images", sub + "extra")
    # captions
    captioned = [
        ("cap-empty", b"", "empty-caption"),
        ("cap-blank", b"  \n\t\n", "blank-caption"),
        ("cap-latin1", "ohwx woman, caf\xe9".encode("latin-1"), "caption-not-utf8"),
        ("cap-utf16", "ohwx woman, smiling".encode("utf-16"), "caption-not-utf8"),
        ("cap-bom", b"\xef\xbb\xbfohwx woman, smiling", "caption-bom"),
        ("cap-crlf", b"ohwx woman, smiling\r\n", "caption-crlf"),
        ("cap-cr", b"ohwx woman\rsmiling, outdoors", "caption-cr"),
        ("cap-multi", b"ohwx woman\nsmiling\noutdoors\n", "caption-multiline"),
        ("cap-firstblank", b"\nohwx woman, smiling", "caption-first-line-empty"),
        ("cap-long", (", ".join(f"tag{i} word{i}" for i in range(120))).encode(), "caption-too-long"),
        ("cap-control", b"ohwx woman\x07, smiling", "caption-control-chars"),
    ]
    for index, (stem, data, code) in enumerate(captioned):
        good(sub + f"{stem}.png", 100 + index)
        put(sub + f"{stem}.txt", data)
        case(stem, code, sub + f"{stem}.txt")
    good(sub + "face_10_20_30_40.png", 130)
    put(sub + "face.txt", b"ohwx woman, close-up")
    case("caption by face-crop name", "caption-fallback-name", sub + "face_10_20_30_40.png")
    put(sub + "lonely.txt", b"ohwx woman")
    case("orphan caption", "orphan-caption", sub + "lonely.txt")
    good(sub + "uncaptioned.png", 131)
    case("missing caption", "missing-caption", sub + "uncaptioned.png")
    # layout of the root
    good("ohwx woman/a.png", 140)
    case("folder without repeats", "bad-folder-name", "ohwx woman")
    good("0_off/a.png", 141)
    case("zero repeats", "zero-repeats", "0_off")
    good("-2_negative/a.png", 142)
    case("negative repeats", "zero-repeats", "-2_negative")
    put("5_empty/readme.txt", b"nothing here")
    case("subset without images", "empty-subset", "5_empty")
    good("loose.png", 143)
    case("images beside repeat folders", "root-images-ignored", "")
    good("3/a.png", 144)
    case("repeat folder without class", "no-class-tokens", "3")
    case("no caption and no class tokens", "no-caption-no-class", "3/a.png")
    return cases


def build_layout_roots(base: Path) -> list[tuple[Path, Case]]:
    """Roots that are wrong as a whole: empty, flat, only unusable folders."""
    empty = base / "empty-root"
    empty.mkdir(parents=True)
    flat = base / "flat-root"
    flat.mkdir()
    _save(flat / "a.png", _noisy((1024, 1024), 150), "PNG")
    badnames = base / "bad-root"
    (badnames / "photos").mkdir(parents=True)
    _save(badnames / "photos" / "a.png", _noisy((1024, 1024), 151), "PNG")
    return [(empty, Case("empty root", "no-data", "")), (flat, Case("flat root", "flat-folder", "")),
            (badnames, Case("only unusable folders", "no-data", ""))]


def tree_checksum(root: Path) -> str:
    """Names, types, link targets, bytes, modes and mtimes of everything under root (FIFOs never opened)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = os.lstat(path)
            digest.update(f"{path.relative_to(root)}|{st.st_mode}|{st.st_mtime_ns}|{st.st_size}".encode())
            if os.path.islink(path):
                digest.update(os.readlink(path).encode())
            elif path.is_file() and not path.is_symlink() and st.st_mode & 0o170000 == 0o100000:
                digest.update(path.read_bytes())
    return digest.hexdigest()

"""Per-file inspection (runs in worker processes): content hash plus raw image/caption facts, no judgement."""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
EXIF_ORIENTATION = 0x0112
HEADER_BYTES = 1 << 20  # read first: enough for every header Pillow parses to learn an image's size
MAX_IMAGE_BYTES = 512 << 20  # one training image; sd-scripts would decode it whole

_known_hashes: frozenset[str] = frozenset()


def init_worker(known_hashes) -> None:
    """Pool initializer: "kind:hash" keys whose facts the parent already has, so those files are not decoded again."""
    global _known_hashes
    _known_hashes = frozenset(known_hashes)


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def inspect_file(job: tuple[str, str, bool]) -> dict:
    """job = (path, "image" | "caption", full decode?) -> facts dict (JSON-serialisable). An image's header
    is read first: a file over the byte limit, or one whose header claims too many pixels, is refused
    before the rest is read (a sparse 4 GiB .png never reaches memory)."""
    path, kind, decode = job
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
            refused = _refused_by_header(head, os.fstat(handle.fileno()).st_size) if kind == "image" else None
            if refused is not None:
                return refused
            data = head + handle.read()
    except OSError as exc:
        return {"read_error": f"{type(exc).__name__}: {exc.strerror or exc}"}
    digest = content_hash(data)
    if f"{kind}:{digest}" in _known_hashes:
        return {"hash": digest, "known": True}
    facts = image_facts(data, decode) if kind == "image" else caption_facts(data)
    facts["hash"] = digest
    return facts


def _refused_by_header(head: bytes, size: int) -> dict | None:
    """Facts of an image refused from its size or header alone, or None when it may be read."""
    facts = {"kind": "image", "bytes": size, "decoded": False, "hash": content_hash(head + str(size).encode())}
    if size > MAX_IMAGE_BYTES:
        return {**facts, "bomb": True, "open_error": f"the file holds {size:,} bytes, over the {MAX_IMAGE_BYTES:,}-byte "
                                                      "limit for one training image; it was not read"}
    if len(head) < size:  # only the header is here: open it to learn the size it claims, decode nothing
        claimed = image_facts(head, decode=False)
        if claimed.get("bomb"):
            return {**facts, **claimed, "bytes": size, "hash": facts["hash"]}
    return None


def image_facts(data: bytes, decode: bool) -> dict:
    from PIL import Image, UnidentifiedImageError

    facts: dict = {"kind": "image", "bytes": len(data), "decoded": decode}
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse both, before any decoding.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            facts.update(bomb=True, open_error=str(exc))
            return facts
        except UnidentifiedImageError:
            facts["open_error"] = "unidentified"
            return facts
        except Exception as exc:  # any reader failure is a fact about this file, reported as a finding
            facts["open_error"] = f"{type(exc).__name__}: {exc}"
            return facts
        with image:
            facts.update(_header_facts(image, data))
            if decode:
                try:
                    image.load()
                except Exception as exc:  # recorded, becomes a 'truncated'/'corrupt' finding
                    facts["decode_error"] = f"{type(exc).__name__}: {exc}"
    return facts


def _header_facts(image, data: bytes) -> dict:
    facts = {"format": image.format, "width": image.width, "height": image.height, "mode": image.mode,
             "frames": int(getattr(image, "n_frames", 1) or 1), "transparency": "transparency" in image.info}
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 24:
        facts["bit_depth"] = data[24]
    if data[:8] == PNG_SIGNATURE and b"eXIf" not in data and b"exif" not in data:
        return facts  # no EXIF in this PNG: Pillow's getexif() would decode all pixels just to find that out
    try:
        facts["orientation"] = int(image.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception as exc:  # broken EXIF block: sd-scripts never reads it, so only note it
        facts["exif_error"] = f"{type(exc).__name__}: {exc}"
    return facts


def caption_facts(data: bytes) -> dict:
    """What sd-scripts' read_caption would see: UTF-8 text, universal newlines, first line stripped."""
    facts: dict = {"kind": "caption", "bytes": len(data), "bom": data.startswith(b"\xef\xbb\xbf"),
                   "utf16_bom": data[:2] in (b"\xff\xfe", b"\xfe\xff")}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        facts["utf8_error"] = f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
        return facts
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    facts.update(crlf="\r\n" in text, lone_cr="\r" in text.replace("\r\n", ""), line_count=len(lines),
                 nonblank_lines=sum(1 for line in lines if line.strip()),
                 first_line=lines[0].strip() if lines else "",
                 control_chars=CONTROL_CHARS.search(text) is not None)
    return facts

"""Perceptual hashes in numpy: dHash (gradient) and pHash (DCT), 64 bits each, and their Hamming distance."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

HASH_SIZE = 8
PHASH_SIDE = 32


def _gray(image, width: int, height: int) -> np.ndarray:
    from PIL import Image

    small = image.convert("L").resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float64)


def _bits(flags: np.ndarray) -> int:
    value = 0
    for bit in flags.ravel():
        value = (value << 1) | int(bit)
    return value


def dhash(image) -> int:
    """Whether each pixel is brighter than its right neighbour on a 9x8 thumbnail."""
    pixels = _gray(image, HASH_SIZE + 1, HASH_SIZE)
    return _bits(pixels[:, 1:] > pixels[:, :-1])


@functools.lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    # orthonormal DCT-II basis: row k holds cos(pi * (2i + 1) * k / 2n)
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    basis = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis


def phash(image) -> int:
    """Whether each of the 8x8 lowest DCT frequencies of a 32x32 thumbnail is above their median."""
    pixels = _gray(image, PHASH_SIDE, PHASH_SIDE)
    basis = _dct_matrix(PHASH_SIDE)
    low = (basis @ pixels @ basis.T)[:HASH_SIZE, :HASH_SIZE]
    return _bits(low > np.median(low))


def distance(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def hash_file(path: Path) -> tuple[int, int] | None:
    """(pHash, dHash) of an image file; None when it cannot be read as an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return phash(image), dhash(image)
    except (OSError, UnidentifiedImageError, ValueError):
        return None

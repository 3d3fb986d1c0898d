"""Dataset edge cases: an output folder reached through a symlink into the source, an image that would
exhaust memory, and in-place corruption that keeps the mtime."""

from __future__ import annotations

import os
import resource
import struct
import zlib

import pytest

from kohya_wrap.dataset.check import check_dataset
from kohya_wrap.dataset.prepare import plan_prepare
from kohya_wrap.dataset.scan import scan_dataset
from kohya_wrap.errors import DatasetError
from tests.dataset.conftest import make_image


def _check(root, cache=None):
    return check_dataset(scan_dataset(root).subsets, resolution=1024, min_bucket_reso=256,
                         caption_extension=".txt", cache_path=cache, workers=1)


def test_prepare_out_through_a_symlink_into_the_source_is_refused(fault, tmp_path):
    fault("dataset", "data prepare --out through a symlink into the source")
    source = tmp_path / "photos"
    make_image(source / "a.png", (256, 256), 1)
    link = tmp_path / "link"
    link.symlink_to(source)
    with pytest.raises(DatasetError) as caught:
        plan_prepare([source], link / "prepared", token="ohwx")
    fault.saw(caught.value.message.splitlines()[-1])
    assert "inside source" in caught.value.message
    assert sorted(p.name for p in source.iterdir()) == ["a.png"]  # the source tree is untouched


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\0" * 1024)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat)))


@pytest.mark.parametrize("shape", ["4 GiB sparse file", "header claims 40000 x 40000 pixels"])
def test_an_image_over_the_limits_is_refused_from_its_header(fault, tmp_path, shape):
    fault("dataset", f"data check of a .png: {shape}")
    root = tmp_path / "train"
    make_image(root / "2_x" / "good.png", (256, 256), 1)
    bad = root / "2_x" / "huge.png"
    with open(bad, "wb") as handle:
        if shape.startswith("4 GiB"):
            handle.write(_png_header(256, 256))
            handle.truncate(4 << 30)  # sparse: no disk used, 4 GiB if read whole
        else:
            handle.write(_png_header(40000, 40000) + b"\0" * (2 << 20))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    findings = _check(root)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    found = [f for f in findings if f.path == str(bad)]
    fault.saw(f"{found[0].code}: {found[0].message[:100]} (memory +{grown_mb:.0f} MB)")
    assert [f.code for f in found] == ["decompression-bomb"] and found[0].severity == "error"
    assert grown_mb < 100


def test_in_place_corruption_with_the_mtime_kept_is_seen(fault, tmp_path):
    fault("dataset", "image corrupted in place, mtime put back (check cache)")
    root = tmp_path / "train"
    for index in range(3):
        make_image(root / "2_x" / f"i{index}.png", (256, 256), index)
    cache = tmp_path / "cache.json"
    assert not [f for f in _check(root, cache) if f.severity == "error"]
    target = root / "2_x" / "i1.png"
    stat = target.stat()
    data = bytearray(target.read_bytes())
    data[len(data) // 2:] = b"\0" * (len(data) - len(data) // 2)  # same size, broken pixels
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # what `touch -r` / `rsync -t` do
    assert target.stat().st_mtime_ns == stat.st_mtime_ns and target.stat().st_size == stat.st_size
    errors = [f for f in _check(root, cache) if f.path == str(target) and f.severity == "error"]
    fault.saw(f"{errors[0].code}: {errors[0].message[:90]}" if errors else "missed")
    assert errors

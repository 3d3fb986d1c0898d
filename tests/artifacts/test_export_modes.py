"""Exported files get the mode a plain copy would (0666 less the umask), not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

from kohya_wrap.artifacts.header import temp_beside


def test_export_temp_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        temp = temp_beside(tmp_path / "x.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(temp.stat().st_mode) == 0o644

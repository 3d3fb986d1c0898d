"""File names from the user's folders reach the terminal escaped: an escape sequence in a name is never sent raw."""

from __future__ import annotations

from PIL import Image


def test_data_check_prints_a_hostile_file_name_escaped(cli, tmp_path):
    folder = tmp_path / "10_cat"
    folder.mkdir()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(folder / "evil\x1b[2Jname.png")
    result = cli("data", "check", str(tmp_path), "--all", "--no-cache")
    assert "\x1b" not in result.output and "\\x1b[2Jname.png" in result.output

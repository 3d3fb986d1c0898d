"""File names from the user's folders reach the terminal escaped: an escape sequence in a name is never sent raw."""

from __future__ import annotations

from PIL import Image


def test_data_check_prints_a_hostile_file_name_escaped(cli, tmp_path):
    folder = tmp_path / "10_cat"
    folder.mkdir()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(folder / "evil\x1b[2Jname.png")
    result = cli("data", "check", str(tmp_path), "--all", "--no-cache")
    assert "\x1b" not in result.output and "\\x1b[2Jname.png" in result.output


def test_report_on_a_disk_that_refuses_writes_is_one_clear_error(cli, tmp_path, monkeypatch):
    import errno

    from kohya_wrap.reports import write as report_write

    job = tmp_path / "20261101-000000-x-abcd"
    job.mkdir()
    (job / "events.jsonl").write_text('{"type": "step", "t": 1.0, "step": 1, "total": 2}\n')

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(job / "report.html"))

    monkeypatch.setattr(report_write, "write_reports", full)
    result = cli("report", str(job))
    assert result.exit_code == 2 and "Cannot write the report: the disk is full" in result.output
    assert "Traceback" not in result.output

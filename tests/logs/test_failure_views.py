"""A failed job's summary.json, report.html/.md and `jobs show` carry the diagnosis and the last 30 log lines."""

from __future__ import annotations

import json
import shutil

import pytest

from kohya_wrap.job.events import make_event, write_events_jsonl
from kohya_wrap.logs.parse import parse_files
from kohya_wrap.logs.tail import log_tail, tail_of_text
from kohya_wrap.reports.write import write_reports

from .conftest import FIXTURES

REAL = FIXTURES / "failures-real"
JOB_ID = "20261201-100711-caption_empty-de49"


@pytest.fixture
def failed_job(isolated_home):
    """A job folder as the runner leaves it after the real caption_empty failure."""
    job = isolated_home / "runs" / JOB_ID
    job.mkdir(parents=True)
    shutil.copy(FIXTURES.parent.parent / "templates" / "presets" / "sdxl-style.toml", job / "job.toml")
    shutil.copy(REAL / "caption_empty" / "train.log", job / "train.log")
    events = parse_files([job / "train.log"])
    start = make_event("started", events[0].t - 5, pid=1, host="elsewhere", argv=["python"])
    write_events_jsonl(job / "events.jsonl", [start, *events, make_event("exited", events[-1].t + 1, code=1)])
    write_reports(job)
    return job


def test_the_tail_drops_colours_and_redraws_and_the_launchers_echo():
    text = ("\x1b[32mINFO\x1b[0m loading\nsteps:   0%|  | 0/2 [00:00<?, ?it/s]\rsteps:  50%|# | 1/2 [00:05<00:05,"
            "  5.00s/it]\rsteps: 100%|##| 2/2 [00:10<00:00,  5.00s/it]\nValueError: bad\n"
            "Traceback (most recent call last):\n  File \"x\", line 1, in <module>\n"
            "subprocess.CalledProcessError: Command 'x' returned non-zero exit status 1.\n")
    assert tail_of_text(text) == ["INFO loading", "steps: 100%|##| 2/2 [00:10<00:00,  5.00s/it]", "ValueError: bad",
                                  "[accelerate's CalledProcessError traceback left out: returned non-zero exit status 1]"]
    assert len(tail_of_text("\n".join(f"line {n}" for n in range(100)))) == 30


def test_the_tail_of_a_real_log_ends_with_the_trainers_exception():
    tail = log_tail(REAL / "caption_empty" / "train.log")
    assert len(tail) == 30 and not any("\r" in line or "\x1b" in line for line in tail)
    assert tail[-2].startswith("AssertionError: caption file is empty")


def test_summary_json_holds_the_diagnosis_and_the_tail(failed_job):
    summary = json.loads((failed_job / "summary.json").read_text(encoding="utf-8"))
    assert (summary["status"], summary["cause"]) == ("failed", "bad_dataset")
    assert summary["error"]["frame"] == "library/train_util.py:1964 in read_caption"
    assert summary["log_tail"] == log_tail(failed_job / "train.log") and len(summary["log_tail"]) == 30


def test_the_report_shows_the_diagnosis_and_the_last_lines(failed_job):
    html = (failed_job / "report.html").read_text(encoding="utf-8")
    assert "caption file is empty: /tmp/h10/data_empty/3_shape/02_yellow_triangle.txt" in html
    assert "library/train_util.py:1964 in read_caption" in html
    assert "Last 30 lines of train.log" in html and "load_dreambooth_dir" in html
    markdown = (failed_job / "report.md").read_text(encoding="utf-8")
    assert "## Last 30 lines of train.log" in markdown and "- where: `library/train_util.py:1964" in markdown


def test_jobs_show_prints_the_diagnosis_and_the_last_lines(cli, failed_job):
    assert cli("registry", "rebuild").exit_code == 0
    shown = cli("jobs", "show", JOB_ID)
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert "diagnosis:" in text and "bad_dataset: AssertionError: caption file is empty" in text
    assert "where: library/train_util.py:1964 in read_caption" in text
    assert "last 30 lines of" in text and "  | AssertionError: caption file is empty" in text

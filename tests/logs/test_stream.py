"""The splitter on real bytes: tqdm \r redraws, ESC[A cursor moves, redraws sharing a line with log records."""

from __future__ import annotations

import re

from kohya_wrap.logs.stream import BAR_RE, Splitter, bar_values

from .conftest import MAIN, SIMPLE


def split(data: bytes, chunks: int = 1):
    texts, bars = [], []
    splitter = Splitter(texts.append, bars.append)
    text = data.decode("utf-8")
    size = max(1, len(text) // chunks)
    for pos in range(0, len(text), size):
        splitter.feed(text[pos:pos + size])
    splitter.end()
    return texts, bars


def real_line(data: bytes, marker: bytes) -> str:
    start = data.index(marker)
    end = data.index(b"]", start) + 1
    return data[start:end].decode()


def test_bar_values_of_a_real_training_redraw():
    line = real_line((MAIN / "stderr.log").read_bytes(), b"steps:  33%")
    values = bar_values(BAR_RE.match(line))
    assert values == {"n": 2, "total": 6, "elapsed_s": 73, "eta_s": 147, "s_per_it": 36.89,
                      "postfix": {"avr_loss": 1.13}}


def test_bar_values_of_rates_in_it_per_s_and_unknown():
    data = (MAIN / "stderr.log").read_bytes()
    fast = bar_values(BAR_RE.match(real_line(data, b" 17%|\xe2\x96\x88\xe2\x96\x8b        | 1/6 [00:00<00:01")))
    assert fast["it_s"] == 2.56 and "s_per_it" not in fast
    start = bar_values(BAR_RE.match(real_line(data, b"steps:   0%")))
    assert start["eta_s"] is None and "it_s" not in start and "s_per_it" not in start


def test_every_redraw_is_found_and_no_text_line_keeps_control_characters():
    data = (MAIN / "stderr.log").read_bytes()
    texts, bars = split(data)
    expected = re.findall(rb"\r([^\r\n\x1b]*?)\d+/\d+ \[", data)
    assert len(bars) == len(expected) == 52  # 54 \r in the file; two are tqdm clearing the nested bar's line
    assert sum(1 for b in bars if b["desc"] == "steps") == data.count(b"\rsteps:")
    assert not [t for t in texts if "\r" in t or "\x1b" in t]


def test_a_record_after_a_redraw_on_the_same_line_starts_a_text_line():
    texts, _ = split((MAIN / "stderr.log").read_bytes())
    assert "2026-11-21 08:25:43 WARNING  Failed to get git commit      sai_model_spec.py:288" in texts
    assert any(t.startswith(" " * 20 + "INFO     epoch is incremented.") for t in texts)
    assert any(t.startswith("/tmp/sdenv/lib/python3.11/site-packages/torch/utils/checkpoint.py:238: UserWarning")
               for t in texts)  # printed right after the nested sample bar's ESC[A


def test_chunking_does_not_change_the_split():
    data = (SIMPLE / "stderr.log").read_bytes()
    reference = split(data)
    for chunks in (2, 7, 100, 5000):
        texts, bars = split(data, chunks)
        assert texts == reference[0] and [b.group(0) for b in bars] == [b.group(0) for b in reference[1]]


def test_a_redraw_is_reported_when_complete_not_when_the_next_one_starts():
    line = real_line((MAIN / "stderr.log").read_bytes(), b"steps:  17%")
    texts, bars = [], []
    splitter = Splitter(texts.append, bars.append)
    splitter.feed("\r" + line[:-5])
    assert bars == []
    splitter.feed(line[-5:])
    assert [b.group(0) for b in bars] == [line] and splitter.mid_line
    assert splitter.end() is True  # the stream stopped inside a line

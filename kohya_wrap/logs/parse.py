"""LogParser: sd-scripts output in (bytes, any chunking, merged or separate streams, either logging mode), events out."""

from __future__ import annotations

import codecs
import re
from datetime import datetime
from pathlib import Path

from kohya_wrap.logs import diagnose as dx
from kohya_wrap.logs import failure
from kohya_wrap.job.events import Event, make_event
from kohya_wrap.logs.exceptions import TRACEBACK, TracebackReader, is_launcher_echo
from kohya_wrap.logs.messages import OPTION_RE, MessageRules
from kohya_wrap.logs.rich import RECORD_RE, Record, RecordJoiner
from kohya_wrap.logs.stream import Splitter, bar_values, interval_s, nonfinite_keys

ONCE = {"interrupted", "nan", "killed"}  # error kinds reported once per run, whatever their message


class LogParser(MessageRules):
    """Incremental and pure: feed(bytes) returns the events those bytes complete; finish() ends the stream.

    A step event is emitted once per step value, when the bar moves on (or training ends), with the values of
    that step's last redraw: tqdm shows a step's own avr_loss only in its last redraw. When a run resumes from a
    state and sd-scripts restarts its step counter, step numbers are shifted by the state's step (step_offset
    None = decide from the log; an int forces it, unless the log says the counter was kept: vendor/patches/0003).

    Event time `t`: the `now` given with the bytes (live); for a log read later, the latest time the log shows
    (rich timestamps; for steps, the training bar's start plus its elapsed time); 0 when it shows none.
    `progress` is the training bar's latest redraw, for a live display that should not wait for the step event.
    """

    def __init__(self, step_offset: int | None = None):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._splitter = Splitter(self._on_text, self._on_bar)
        self._records = RecordJoiner(self._on_record)
        self._ctx = dx.Context()
        self._out: list[Event] = []
        self._now: float | None = None
        self._ts: float | None = None  # latest rich timestamp
        self._ts_cache: dict[str, float] = {}
        self._forced_offset, self._offset, self._resume, self._skip = step_offset, None, None, False
        self._kept = False  # the log says the trainer kept counting from the state's step
        self._config: dict = {}
        self._phases: set[str] = set()
        self._bar = None  # (match, t_now, t_log) of the current step's latest redraw
        self._bar_total: str | None = None  # the training bar's total, as shown: a new total is a new bar
        self._bar_t0: float | None = None  # when the bar's clock started (logs without live times)
        self._t_bar = 0.0  # the latest time estimated from the bar's elapsed (logs without live times)
        self._fresh: int | None = None  # elapsed seconds of a training-bar redraw that nothing followed yet
        self._emitted_step: int | None = None
        self._sampling: int | None = None  # step of the sample block in progress
        self._sample: dict | None = None
        self._sample_index = 0
        self._tb: TracebackReader | None = None  # the traceback being read
        self._usage = False
        self._errors: set[tuple[str, str]] = set()
        self._mid_line = False
        self.finished = False  # sd-scripts said "model saved." (training ran to its end)

    # -- input -----------------------------------------------------------------------------------------------
    def feed(self, chunk: bytes, now: float | None = None) -> list[Event]:
        self._now = now
        self._splitter.feed(self._decoder.decode(chunk))
        return self._take()

    def end_stream(self, now: float | None = None) -> list[Event]:
        """One input file is over (stdout and stderr parsed one after the other); the parser state carries on."""
        self._now = now
        self._splitter.feed(self._decoder.decode(b"", final=True))
        self._decoder.reset()
        self._mid_line |= self._splitter.end()
        self._records.flush()
        self._end_traceback()
        self._end_sample()
        return self._take()

    def finish(self, now: float | None = None) -> list[Event]:
        events = self.end_stream(now)
        self._end_step()
        self._resume_offset()
        if self._ctx.logged is not None and not self._errors:
            self._error(self._ctx.logged)
        if self._mid_line and not self._errors and not self.finished:
            self._error(dx.killed_diagnosis())
        return events + self._take()

    @property
    def progress(self) -> dict | None:
        """The latest redraw of the training bar (live display), not yet a step event."""
        if self._bar is None:
            return None
        values = bar_values(self._bar[0])
        offset = self._offset if self._offset is not None else self._forced_offset or 0
        return {"step": values["n"] + offset, **values}

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _take(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _t(self) -> float:
        if self._now is not None:
            return self._now
        return max(self._ts or 0.0, self._t_bar)

    def _emit(self, type: str, t: float | None = None, **fields) -> None:
        self._out.append(make_event(type, self._t() if t is None else t, **fields))

    def _error(self, diag: dx.Diagnosis) -> None:
        key = (diag.kind, "" if diag.kind in ONCE else diag.message)
        if key not in self._errors:
            self._errors.add(key)
            self._emit("error", kind=diag.kind, message=diag.message, hint=diag.hint, exception=diag.exception,
                       frame=diag.frame, path=diag.path, tail=diag.tail)

    def _on_text(self, line: str) -> None:
        if self._fresh is not None:
            self._reanchor(line)
        if not self._records.take(line):
            self._plain(line)

    def _reanchor(self, line: str) -> None:
        """A timed record right after a redraw dates that redraw. sd-scripts pauses the bar's clock while it
        samples, so the bar's start time moves on by each pause."""
        elapsed, self._fresh = self._fresh, None
        match = RECORD_RE.match(line)
        if match and match["ts"] and self._bar_t0 is not None:
            self._bar_t0 = max(self._bar_t0, self._timestamp(match["ts"]) - elapsed)

    def _timestamp(self, ts: str) -> float:
        if ts not in self._ts_cache:
            self._ts_cache[ts] = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").timestamp()  # local time
        return self._ts_cache[ts]

    def _on_record(self, record: Record) -> None:
        if record.ts:
            self._ts = self._timestamp(record.ts)
        self._end_traceback()
        self._message(record.message(), record.level, record.source)

    def _plain(self, line: str) -> None:
        if self._tb is not None:
            if self._tb.take(line):
                return
            self._end_traceback()
        if line.startswith(TRACEBACK):
            self._ctx.before = list(self._ctx.recent)
            self._tb = TracebackReader()
            return
        if self._usage:
            if line.startswith(" "):
                self._ctx.options.update(OPTION_RE.findall(line))
                return
            self._usage = False
        self._message(line, None, None)

    def _end_traceback(self) -> None:
        reader, self._tb = self._tb, None
        if reader is None or not reader.chain:
            return
        self._ctx.sampling_step = self._sampling
        if self._ctx.before and self._ctx.before[-1].startswith("Exception ignored in"):
            # printed by Python for an error it swallowed (a __del__ at exit): the run went on
            self._emit("warning", kind="ignored_exception", message=f"{self._ctx.before[-1]} {reader.chain[-1].text}")
            return
        if any(not is_launcher_echo(error) for error in reader.chain):
            diag = failure.diagnose_chain(reader.chain, self._ctx)
        elif self._errors:
            return  # accelerate's launcher repeating the trainer's failure
        else:
            diag = failure.launcher_diagnosis(reader.chain[-1], self._ctx)
        self._end_step()  # an exception ends training: the step shown before it is the last one
        self._error(diag)

    # -- the training bar --------------------------------------------------------------------------------------
    def _on_bar(self, match: re.Match) -> None:
        self._records.flush()
        self._end_traceback()
        self._end_sample()
        self._fresh = None
        if match["desc"] != "steps":
            return
        self._sampling = None
        offset = self._resume_offset()
        new_bar = match["total"] != self._bar_total
        if self._bar is not None and (new_bar or self._bar[0]["n"] != match["n"]):
            self._end_step()
        if new_bar:
            self._bar_total = match["total"]
            self._bar_t0 = (self._ts or 0.0) - (interval_s(match["elapsed"]) or 0)
        self._bar = (match, self._now, self._ts)
        self._fresh = interval_s(match["elapsed"])
        postfix = match["postfix"]
        if postfix and ("nan" in postfix or "inf" in postfix) and nonfinite_keys(bar_values(match)["postfix"]):
            self._error(dx.nan_diagnosis(int(match["n"]) + offset))

    def _end_step(self) -> None:
        current, self._bar = self._bar, None
        if current is None:
            return
        match, now, log_t = current
        values = bar_values(match)
        step = values["n"] + self._resume_offset()
        if values["n"] < 1 or step == self._emitted_step or step <= self._resumed_at():
            return
        self._emitted_step = step
        if now is None:
            estimate = (self._bar_t0 or 0.0) + (values["elapsed_s"] or 0) if self._ts is not None else None
            now = max(log_t or 0.0, estimate or 0.0)
            self._t_bar = max(self._t_bar, now)
        postfix = values["postfix"]
        bad = nonfinite_keys(postfix)
        finite = {k: v for k, v in postfix.items() if isinstance(v, float) and k not in bad}
        self._emit("step", now, step=step, total=values["total"], loss=finite.get("loss"),
                   avr_loss=finite.get("avr_loss"), lr=finite.get("lr"), it_s=values.get("it_s"),
                   s_per_it=values.get("s_per_it"), eta_s=values["eta_s"], elapsed_s=values["elapsed_s"],
                   nonfinite=bad or None)

    def _resumed_at(self) -> int:
        """The state's step after a resume: a bar that starts there (patch 0003) draws it before any new step."""
        return self._resume["step"] if self._resume is not None and self._kept else 0

    def _resume_offset(self) -> int:
        """Steps done before this run, decided once at the first step, sample or save after a resume."""
        if self._offset is None and self._resume is not None:
            # sd-scripts restarts its counter at 0 unless it skips batches itself (skip_until_initial_step) or runs
            # with our patch 0003; what the log says it did beats the offset the caller expected
            found = 0 if self._skip or self._kept else self._resume["step"]
            self._offset = found if self._forced_offset is None or self._kept else self._forced_offset
            resume = self._resume
            self._emit("resumed", resume["t"], state=resume["state"], epoch=resume["epoch"], step=resume["step"],
                       step_offset=self._offset)
        if self._offset is not None:
            return self._offset
        return self._forced_offset or 0


def parse_files(paths: list[Path], step_offset: int | None = None) -> list[Event]:
    """Events of one run's log files, read in the order given (give stdout before stderr for split logs)."""
    parser = LogParser(step_offset)
    events: list[Event] = []
    for path in paths:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                events += parser.feed(chunk)
        events += parser.end_stream()
    return events + parser.finish()

"""Text formatting shared by the HTML and Markdown reports (durations, sizes, times, headline rows)."""

from __future__ import annotations

import datetime as dt

STATUS_WORDS = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "stopped": "Stopped",
    "running": "Running",
}


def seconds(value) -> str:
    if value is None:
        return "–"
    value = float(value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size(value) -> str:
    if value is None:
        return "–"
    value = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def timestamp(value) -> str:
    if value is None:
        return "–"
    return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value, digits: int = 6) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def status_word(summary: dict) -> str:
    status = summary.get("status") or "unknown"
    return STATUS_WORDS.get(status, status.capitalize())


def problem(summary: dict) -> tuple[str, str, str] | None:
    """(kind, message, hint) explaining a run that did not succeed: its error event, else the outcome's own words."""
    if summary.get("status") == "succeeded":
        return None
    error = summary.get("error") or {}
    outcome = summary.get("outcome") or {}
    message = error.get("message") or outcome.get("message")
    if not message:
        return None
    kind = error.get("kind") or outcome.get("cause") or "error"
    return str(kind), str(message), str(error.get("hint") or outcome.get("hint") or "")


def diagnosis_facts(summary: dict) -> list[tuple[str, str]]:
    """Where a failure happened and what it names: the innermost sd-scripts frame, the file, the last lines
    the trainer logged when nothing else names the cause."""
    if summary.get("status") == "succeeded":
        return []
    error = summary.get("error") or {}
    facts = [(label, str(error[key])) for label, key in (("raised", "exception"), ("where", "frame"),
                                                          ("file", "path")) if error.get(key)]
    if error.get("tail"):
        facts.append(("last lines", " | ".join(error["tail"])))
    return facts


def log_tail(summary: dict) -> list[str]:
    """The last train.log lines a report shows for a run that did not succeed."""
    if summary.get("status") in ("succeeded", "running"):
        return []
    return list(summary.get("log_tail") or [])


def fraction(part: dict | None) -> str:
    part = part or {}
    done, total = part.get("done"), part.get("total")
    if done is None and total is None:
        return "–"
    return f"{'–' if done is None else done} / {'?' if total is None else total}"


def _cost(cost: dict | None) -> str:
    if not cost:
        return "– (no hourly rate: set limits.gpu_hourly_usd)"
    return f"{cost['usd']:.2f} USD ({cost['usd_per_hour']:.2f} USD/h; {cost['basis']})"


def headline_rows(summary: dict) -> list[tuple[str, str]]:
    """(label, value) rows of the "at a glance" table, shared by both report formats."""
    loss = summary.get("loss") or {}
    speed = summary.get("speed") or {}
    phases = summary.get("phases") or {}
    excluded = speed.get("steps_excluded") or []
    speed_text = "–"
    if speed.get("mean_s_per_it") is not None:
        speed_text = (f"{speed['mean_s_per_it']:.2f} s/step (mean of {speed['steps_counted']} steps, "
                      f"median {speed['median_s_per_it']:.2f}")
        speed_text += f"; {len(excluded)} with sampling/saving left out)" if excluded else ")"
    loss_text = "–"
    if loss:
        loss_text = (f"first {number(loss.get('first'))}, min {number(loss.get('min'))}"
                     f" (step {loss.get('min_step')}), last {number(loss.get('last'))}")
        if loss.get("nonfinite_points"):
            loss_text += f"; {loss['nonfinite_points']} NaN/Inf points"
    outputs = summary.get("outputs") or []
    good = len(summary.get("good_outputs") or [])
    note = (summary.get("outcome") or {}).get("note")
    return [
        ("Status", status_word(summary) + (f" ({summary['cause']})" if summary.get("cause") else "")
         + (f"; {note}" if note else "")),
        ("Steps", fraction(summary.get("steps"))),
        ("Epochs", fraction(summary.get("epochs"))),
        ("Loss", loss_text + (f" [{loss['source']}]" if loss.get("source") else "")),
        ("Speed", speed_text),
        ("Wall time", seconds(phases.get("total"))
         + (f" ({phases['launches']} launches)" if phases.get("launches") else "")),
        ("Cost", _cost(summary.get("cost"))),
        ("Started", timestamp(summary.get("started_at"))),
        ("Ended", timestamp(summary.get("ended_at"))),
        ("Outputs", f"{good} good of {len(outputs)}"),
        ("Samples", str(len(summary.get("samples") or []))),
        ("Warnings", str(summary.get("warnings", 0))),
    ] + ([("TensorBoard", summary["tensorboard_problem"])] if summary.get("tensorboard_problem") else [])

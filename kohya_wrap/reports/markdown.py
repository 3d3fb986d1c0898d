"""report.md: the same facts as report.html as plain Markdown tables (samples linked, no plots)."""

from __future__ import annotations

from pathlib import Path

from kohya_wrap.reports import fmt, metrics
from kohya_wrap.reports.charts import PHASES


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: tuple[str, ...], rows) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(summary: dict, events: list[dict], scalars: list[dict], job_dir: Path) -> str:
    """The Markdown report as one string."""
    lines = [f"# kohya-wrap report: {summary.get('job', '')}", "",
             f"**{fmt.status_word(summary)}**" + (f": {summary['cause']}" if summary.get("cause") else ""), ""]
    problem = fmt.problem(summary)
    if problem:
        lines += [f"- {problem[0]}: {problem[1]}"] + ([f"- hint: {problem[2]}"] if problem[2] else [])
        lines += [f"- {label}: `{value}`" for label, value in fmt.diagnosis_facts(summary)] + [""]
    for path in summary.get("nonfinite_outputs") or []:
        lines += [f"> **{path} contains NaN/Inf weights and is not a usable LoRA.**", ""]
    lines += ["## At a glance", ""] + _table(("", ""), fmt.headline_rows(summary))
    phases = summary.get("phases") or {}
    lines += ["## Wall time per phase", ""]
    lines += _table(("phase", "wall time"), [(name, fmt.seconds(phases.get(name))) for name in (*PHASES, "total")])
    lines += _curve_table(metrics.global_steps(scalars, events))
    lines += ["## Outputs", ""] + _outputs(summary)
    samples = summary.get("samples") or []
    if samples:
        lines += ["## Samples", ""] + [f"- [{Path(s).name}]({s})" for s in samples] + [""]
    problems = [e for e in events if e.get("type") in ("error", "warning")]
    if problems:
        lines += ["## Problems", ""]
        lines += _table(("type", "message", "hint"),
                        [(e["type"], e.get("message", ""), e.get("hint") or "") for e in problems])
    tail = fmt.log_tail(summary)
    if tail:
        lines += [f"## Last {len(tail)} lines of train.log", "", "```text", *tail, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _curve_table(scalars: list[dict]) -> list[str]:
    """Loss and learning rate per point, in write order (micro-batches of one step stay separate rows)."""
    groups = metrics.by_tag(scalars)
    loss = groups.get(metrics.LOSS_TAG) or []
    if not loss:
        return []
    lr_tag = next((tag for tag in groups if tag.startswith("lr/")), None)
    lrs = groups.get(lr_tag) or []
    average = groups.get(metrics.AVERAGE_TAG) or []
    rows = []
    for index, point in enumerate(loss):
        rows.append((point["step"], fmt.number(point["value"]),
                     fmt.number(average[index]["value"]) if index < len(average) else "–",
                     fmt.number(lrs[index]["value"], 4) if index < len(lrs) else "–"))
    head = ("step", metrics.LOSS_TAG, metrics.AVERAGE_TAG, lr_tag or "lr")
    return ["## Loss per logged point (TensorBoard)", ""] + _table(head, rows)


def _outputs(summary: dict) -> list[str]:
    outputs = summary.get("outputs") or []
    if not outputs:
        return ["No LoRA file was written.", ""]
    rows = []
    for item in outputs:
        meta = item.get("metadata") or {}
        if item.get("nonfinite_tensors"):
            state = f"**NaN/Inf in {len(item['nonfinite_tensors'])} tensors**"
        else:
            state = item.get("error") or f"finite ({item.get('tensors')} tensors)"
        rows.append((item["path"] + (" (final)" if item.get("final") else ""), fmt.size(item.get("bytes")),
                     f"`{item.get('sha256', '–')}`", meta.get("ss_steps", "–"), meta.get("ss_epoch", "–"), state))
    return _table(("file", "size", "sha256", "ss_steps", "ss_epoch", "weights"), rows)

"""`kohya-wrap report`: write and show a job's report, or make one from plain sd-scripts logs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kohya_wrap.cli.common import echo, CONTEXT_SETTINGS, echo_json, json_option
from kohya_wrap.errors import KohyaWrapError


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("targets", nargs=-1, required=True, metavar="JOB | LOGFILE...")
@click.option("--from-log", "from_log", is_flag=True,
              help="TARGETS are sd-scripts log files (stdout and/or stderr) of a run kohya-wrap did not launch.")
@click.option("--tensorboard", type=click.Path(path_type=Path, file_okay=False),
              help="With --from-log: the run's logging_dir, for exact loss and lr values.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="With --from-log: folder for events.jsonl and the reports [default: ./<log name>-report].")
@click.option("--open", "open_browser", is_flag=True, help="Open report.html in the web browser.")
@json_option
def report(targets, from_log, tensorboard, out_dir, open_browser, as_json):
    """Write summary.json, report.html and report.md for a job and print where they are.

    JOB is a job id under the runs folder (a unique part of it is enough) or the path of a job folder.
    With --from-log the same report is made from the logs of any sd-scripts run.

    \b
    Example:
      kohya-wrap report 20261121-082350-shape-1a2b --open
      kohya-wrap report ./runs/20261121-082350-shape-1a2b --json
      kohya-wrap report --from-log stdout.log stderr.log --tensorboard logs/ --out shape-report
    """
    from kohya_wrap.reports.write import report_from_log, write_reports

    if from_log:
        logs = [Path(t) for t in targets]
        out_dir = out_dir or Path.cwd() / f"{logs[0].stem}-report"
        html = _written(report_from_log, logs, out_dir, tensorboard, where=out_dir)
        job_dir = html.parent
        summary = json.loads((job_dir / "summary.json").read_text(encoding="utf-8"))
    else:
        if len(targets) != 1 or tensorboard or out_dir:
            raise KohyaWrapError("Give exactly one JOB (--tensorboard and --out go with --from-log).",
                                 hint="kohya-wrap report JOB, or kohya-wrap report --from-log LOGFILE...")
        job_dir = _job_dir(targets[0])
        summary = _written(write_reports, job_dir)
    if as_json:
        echo_json(summary)
    else:
        echo(_short(summary, job_dir))
    if open_browser:
        click.launch(str(job_dir / "report.html"))


def _written(write, *args, where: Path | None = None):
    """Run a report writer; a disk that refuses the write (full, read-only) is one clear error, not a traceback."""
    from kohya_wrap.runner.disk import write_failure

    try:
        return write(*args)
    except OSError as error:
        failure = write_failure(error, Path(where or args[0]))
        if failure is None:
            raise
        raise KohyaWrapError(f"Cannot write the report: {failure[1]}.",
                             hint="free some space (or make the folder writable) and run the report again") from None


def _job_dir(ref: str) -> Path:
    from kohya_wrap.job.folder import find

    folder = Path(ref).expanduser()
    # a folder made by --from-log has events.jsonl but no job.toml/command.json; it is reportable too
    if (folder / "events.jsonl").is_file():
        return folder
    return find(ref)


def _short(summary: dict, job_dir: Path) -> str:
    from kohya_wrap.reports import fmt

    lines = [f"{label + ':':<11}{value}" for label, value in fmt.headline_rows(summary)[:7]]
    problem = fmt.problem(summary)
    if problem:
        lines.append(f"{'Error:':<11}{problem[0]}: {problem[1]}")
        if problem[2]:
            lines.append(f"{'Hint:':<11}{problem[2]}")
    for path in summary.get("nonfinite_outputs") or []:
        lines.append(f"{'Bad file:':<11}{path} has NaN/Inf weights")
    lines.append(f"{'Report:':<11}{job_dir / 'report.html'}")
    if summary.get("status") == "running":
        lines.append(f"{'':<11}{job_dir / 'report.md'} (summary.json is written when the job ends)")
    else:
        lines.append(f"{'':<11}{job_dir / 'report.md'}, {job_dir / 'summary.json'}")
    return "\n".join(lines)

"""`kohya-wrap doctor`: the platform profile and a pass/warn/fail checklist; --smoke trains for real."""

from __future__ import annotations

import time
from pathlib import Path

import click

from kohya_wrap.cli.common import CONTEXT_SETTINGS, echo_json, json_option
from kohya_wrap.errors import RunFailed


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--smoke", is_flag=True,
              help="Also build a random full-size SDXL checkpoint (cached) and train a LoRA for 2 steps at 256 px.")
@click.option("--smoke-model", type=click.Path(path_type=Path),
              help="Where the random checkpoint is (or is built); default: kohya-wrap's cache.")
@click.option("--tokenizer-dir", type=click.Path(path_type=Path), help="Tokenizer cache to check (default: kohya-wrap's).")
@json_option
def doctor(smoke, smoke_model, tokenizer_dir, as_json):
    """Check that this machine and the sd-scripts backend can train, and say what to fix.

    The smoke test downloads nothing: the base model is random, the trainer is real.
    On a CPU it needs about 22 GB of RAM and a few minutes.

    \b
    Example:
      kohya-wrap doctor
      kohya-wrap doctor --smoke --json
    """
    from kohya_wrap.backend import doctor as doc

    inputs = doc.collect(tokenizer_dir=tokenizer_dir)
    checks = doc.run_checks(inputs)
    if not as_json:
        _print_platform(inputs)
        _print_checks(checks)
    smoke_result = None
    if smoke:
        smoke_result = _smoke(inputs, checks, smoke_model, as_json)
    counts = doc.summary_counts(checks)
    if as_json:
        echo_json({"platform": inputs.facts.to_dict() if inputs.facts else None,
                   "backend": inputs.backend.to_dict() if inputs.backend else None,
                   "checks": [c.to_dict() for c in checks], "counts": counts, "smoke": smoke_result,
                   "env": doc.env_snapshot()})
    else:
        click.echo(f"\n{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed")
    if counts["fail"]:
        raise RunFailed(f"doctor: {counts['fail']} check(s) failed", hint="see the hints above")


def _print_platform(inputs) -> None:
    click.echo("Platform")
    for line in inputs.facts.summary_lines() if inputs.facts else [inputs.facts_error or "not probed"]:
        click.echo(f"  {line}")
    click.echo("Checks")


def _print_checks(checks) -> None:
    for check in checks:
        click.echo(f"  {check.line()}")
        if check.hint and check.status != "pass":
            click.echo(f"        hint: {check.hint}")


def _smoke(inputs, checks, model, as_json) -> dict | None:
    from kohya_wrap.backend import doctor as doc
    from kohya_wrap.runner.smoke import run_smoke

    say = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    blocking = [c.name for c in checks if c.status == doc.FAIL and c.name in ("backend", "python", "packages")]
    if blocking:
        checks.append(doc.Check("smoke", doc.FAIL, f"not run: {', '.join(blocking)} failed"))
        return None
    say("Smoke test")
    started = time.time()
    result = run_smoke(inputs.backend, model=model, progress=lambda line: say(f"  {line}"))
    total = round(time.time() - started, 1)
    made = result.checkpoint
    detail = (("reused" if made.get("reused") else f"built in {made.get('seconds')} s") + f" {made.get('path')}; "
              f"LoRA {result.lora} (ss_steps {result.ss_steps}, {result.lora_tensors} lora_unet tensors); "
              f"training {result.seconds} s, whole smoke test {total} s"
              + (f", peak RSS {result.peak_rss_gib} GiB" if result.peak_rss_gib else ""))
    check = (doc.Check("smoke", doc.PASS, detail) if result.ok else
             doc.Check("smoke", doc.FAIL, "; ".join(result.problems), f"see {result.job_dir}/train.log"))
    checks.append(check)
    if not as_json:
        _print_checks([check])
    return {**result.to_dict(), "total_seconds": total}

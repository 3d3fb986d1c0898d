"""report.html is self-contained and draws every point; report.md carries the same facts."""

from __future__ import annotations

import base64
import re

from kohya_wrap.reports.write import write_reports

from .helpers import expected_scalars, make_job, svg_curves

UP = "lora_unet_middle_block_1_transformer_blocks_0_attn1_to_q.lora_up.weight"


def links(html: str) -> list[str]:
    return re.findall(r'(?:src|href|xlink:href)\s*=\s*["\']([^"\']*)["\']', html, flags=re.IGNORECASE)


def test_html_is_self_contained(tmp_path):
    job = make_job(tmp_path)
    write_reports(job)
    html = (job / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert links(html), "the sample image should be embedded"
    assert all(link.startswith("data:image/") for link in links(html))
    assert not re.search(r"https?://", re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", html).replace(
        "https://github.com/Stability-AI/generative-models", ""))  # only the SVG namespace and a metadata value
    assert "<script" not in html and "<link" not in html and "@import" not in html


def test_sample_is_embedded_byte_for_byte(tmp_path):
    job = make_job(tmp_path)
    write_reports(job)
    html = (job / "report.html").read_text(encoding="utf-8")
    (uri,) = links(html)
    png = (job / "samples" / "shape_lora_000003_00_20261121082611_1234.png").read_bytes()
    assert base64.b64decode(uri.split(",", 1)[1]) == png


def test_every_curve_has_every_point(tmp_path):
    drawn = {}
    for run in ("main", "simple", "resume"):
        job = make_job(tmp_path / run, run=run)
        write_reports(job)
        drawn[run] = svg_curves((job / "report.html").read_text(encoding="utf-8"))
        for tag, points in expected_scalars(run).items():
            assert drawn[run][tag] == [len(points)], (run, tag)
    # with gradient accumulation TensorBoard has 18 points for 10 steps: all of them are drawn
    assert drawn["simple"]["loss/current"] == [18] and drawn["simple"]["lr/unet"] == [18]


def test_speed_chart_has_a_point_per_timed_step(tmp_path):
    job = make_job(tmp_path)
    summary = write_reports(job)
    curves = svg_curves((job / "report.html").read_text(encoding="utf-8"))
    speed = summary["speed"]
    assert curves["training step"] == [speed["steps_counted"]]
    assert curves["step with sampling/saving"] == [len(speed["steps_excluded"])]


def test_report_shows_outcome_outputs_phases_and_config(tmp_path):
    job = make_job(tmp_path)
    summary = write_reports(job)
    html = (job / "report.html").read_text(encoding="utf-8")
    assert "Succeeded" in html and "6 / 6" in html
    for output in summary["outputs"]:
        assert output["sha256"] in html  # full hash in the title attribute
    assert 'data-phase="training"' in html and 'data-phase="load"' in html
    assert "args.toml" in html and "shape_lora" in html


def test_nan_output_is_flagged_in_both_reports(tmp_path):
    job = make_job(tmp_path, bad={"shape_lora.safetensors": {UP: float("nan")}})
    write_reports(job)
    html = (job / "report.html").read_text(encoding="utf-8")
    markdown = (job / "report.md").read_text(encoding="utf-8")
    assert "output/shape_lora.safetensors contains NaN/Inf weights and is not a usable LoRA." in html
    assert "NaN/Inf in 1 of 9 tensors" in html
    assert "**output/shape_lora.safetensors contains NaN/Inf weights" in markdown
    assert "Failed" in html and "nonfinite_output" in html


def test_failed_run_report_gives_the_hint(tmp_path):
    from .helpers import parsed_events, write_events

    job = tmp_path / "fail"
    job.mkdir()
    write_events(job, parsed_events("failed", "fail_unknown_argument"))
    summary = write_reports(job)
    html = (job / "report.html").read_text(encoding="utf-8")
    assert summary["cause"] == "bad_arg"
    assert "did you mean --network_dim?" in html
    assert "No loss was logged" in html and "No LoRA file was written." in html


def test_text_from_the_log_is_escaped(tmp_path):
    from .helpers import write_events

    job = tmp_path / "esc"
    job.mkdir()
    write_events(job, [{"type": "error", "t": 0.0, "kind": "unknown", "message": "<img src=x onerror=alert(1)>",
                        "hint": "a & b"}, {"type": "exited", "t": 0.0, "code": 1}])
    write_reports(job)
    html = (job / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_markdown_lists_curves_outputs_and_samples(tmp_path):
    job = make_job(tmp_path, run="simple")
    summary = write_reports(job)
    markdown = (job / "report.md").read_text(encoding="utf-8")
    rows = [line for line in markdown.splitlines() if re.match(r"\| \d+ \| 1\.\d+", line)]
    assert len(rows) == 18  # one row per TensorBoard point
    for output in summary["outputs"]:
        assert f"`{output['sha256']}`" in markdown
    assert "## Samples" not in markdown  # this run's samples are not in the fixture


def test_samples_over_the_budget_become_thumbnails(tmp_path, monkeypatch):
    from kohya_wrap.reports import html as html_module

    job = make_job(tmp_path)
    monkeypatch.setattr(html_module, "EMBED_BUDGET", 1000)
    write_reports(job)
    (uri,) = links((job / "report.html").read_text(encoding="utf-8"))
    assert uri.startswith("data:image/jpeg;base64,")
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        assert max(image.size) <= html_module.THUMBNAIL_PX

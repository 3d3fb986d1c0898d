"""The hand-made SVG charts: every point drawn, NaN counted, ticks sensible, text escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from kohya_wrap.reports.svg import Series, finite_series, line_chart, nice_ticks, stacked_bar

NS = "{http://www.w3.org/2000/svg}"


def polylines(svg: str) -> dict[str, int]:
    root = ET.fromstring(svg)
    out = {}
    for group in root.iter(f"{NS}g"):
        line = group.find(f"{NS}polyline")
        drawn = len(line.get("points").split()) if line is not None else len(group.findall(f"{NS}circle"))
        assert drawn == int(group.get("data-points"))
        out[group.get("data-series")] = drawn
    return out


def test_repeated_x_values_are_all_drawn():
    points = [(0, 1.1), (1, 1.06), (1, 1.08), (2, 1.09), (2, 1.1), (3, 1.08)]
    svg = line_chart([Series("loss/current", points)], "Loss", "step", "loss", integer_x=True)
    assert polylines(svg) == {"loss/current": 6}


def test_nonfinite_points_are_skipped_and_said_so():
    series = finite_series("loss", [(1, 1.0), (2, float("nan")), (3, float("inf")), (4, 0.9)])
    svg = line_chart([series], "Loss", "step", "loss")
    assert polylines(svg) == {"loss": 2}
    assert "2 not finite, not drawn" in svg


def test_single_point_gets_a_marker_and_integer_ticks():
    svg = line_chart([finite_series("loss/epoch_average", [(1, 1.0838)])], "Epoch", "epoch", "loss", integer_x=True)
    assert len(ET.fromstring(svg).findall(f".//{NS}circle")) == 1
    assert nice_ticks(1, 1, integer=True) == [0, 1, 2]


def test_empty_chart_says_no_data():
    assert "no data" in line_chart([Series("loss", [])], "Loss", "step", "loss")


def test_ticks_cover_the_range():
    ticks = nice_ticks(1.0485, 1.1339)
    assert ticks[0] <= 1.0485 and ticks[-1] >= 1.1339 and 3 <= len(ticks) <= 8
    assert nice_ticks(1e-4, 1e-4)  # a constant learning rate still gets an axis


def test_text_is_escaped():
    svg = line_chart([Series("<script>", [(1, 1.0), (2, 2.0)])], "a & b", "x", "y")
    ET.fromstring(svg)  # well-formed
    assert "<script>" not in svg


def test_stacked_bar_shares():
    svg = stacked_bar([("load", 30.0), ("caching", 0.0), ("training", 90.0)], width=600)
    widths = {r.get("data-phase"): float(r.get("width")) for r in ET.fromstring(svg).iter(f"{NS}rect") if r.get("data-phase")}
    assert widths == {"load": 150.0, "training": 450.0}
    assert re.search(r"training 90 s \(75%\)", svg)
    assert "no timing data" in stacked_bar([("load", None)])

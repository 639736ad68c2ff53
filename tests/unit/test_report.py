"""ValidationReport without Spark: JSON, HTML escaping and charts, the quality gate's messages."""
from __future__ import annotations

import json
import math
import re
import sys

import pytest

from synthohive_spark.validation import QualityGateError, ValidationReport
from synthohive_spark.validation._html import esc, svg_bars, svg_cardinality, svg_heatmap, svg_histogram

EVIL = '<img src=x onerror="alert(1)">\u2603 & \'q\''


def _data(shape_score: float = 0.9, pair_score: float = 0.85, orphans: int = 0) -> dict:
    return {
        "score": (shape_score + pair_score) / 2,
        "properties": {
            "Column Shapes": {"score": shape_score, "in_overall_score": True, "description": "shapes"},
            "Column Pair Trends": {"score": pair_score, "in_overall_score": True, "description": "pairs"},
        },
        "additional_properties": {
            "Missing Values": {"score": 1.0, "in_overall_score": False, "description": "missing"},
            "Referential Integrity": {"score": 1 - orphans / 10, "in_overall_score": False, "description": "ri"},
        },
        "details": {
            "column_shapes": [
                {"table": EVIL, "column": EVIL, "sdtype": "numerical", "metric": "KSComplement",
                 "score": shape_score, "method": "bucketed (1000 quantile buckets)", "error_bound": 0.0004,
                 "reason": None},
                {"table": EVIL, "column": "city", "sdtype": "categorical", "metric": "TVComplement",
                 "score": 0.4, "method": "exact", "error_bound": 0.0, "reason": None},
                {"table": EVIL, "column": "gone", "sdtype": "numerical", "metric": "KSComplement",
                 "score": None, "reason": "all values are missing in the real data"},
            ],
            "missing_values": [{"table": EVIL, "column": EVIL, "sdtype": "numerical", "real_missing": 0.1,
                                "synthetic_missing": 0.2, "score": 0.9}],
            "column_pair_trends": [
                {"table": EVIL, "column_1": EVIL, "column_2": "city", "metric": "ContingencySimilarity",
                 "score": pair_score, "meets_threshold": True, "real_correlation": None,
                 "synthetic_correlation": None, "reason": None},
                {"table": EVIL, "column_1": "a", "column_2": "b", "metric": "CorrelationSimilarity",
                 "score": 0.1, "meets_threshold": False, "real_correlation": 0.1,
                 "synthetic_correlation": float("nan"), "reason": "below threshold"},
            ],
            "referential_integrity": [{"child_table": "orders", "foreign_key": "cid", "parent_table": "c",
                                       "primary_key": "id", "score": 1 - orphans / 10,
                                       "synthetic_orphans": orphans, "synthetic_foreign_keys": 10,
                                       "real_score": 1.0}],
            "cardinality": [{"child_table": "orders", "foreign_key": "cid", "parent_table": "c",
                             "primary_key": "id", "metric": "CardinalityShapeSimilarity", "score": 0.7}],
            "intertable_trends": [],
            "not_applicable": [{"table": EVIL, "column": "id", "sdtype": "id", "reason": "primary key"}],
        },
        "tables": {EVIL: {"real_rows": 100, "synthetic_rows": 90, "columns": []}},
        "privacy": {},
        "plots": {"tables": {EVIL: {"order": [EVIL, "city"], "columns": {
            EVIL: {"kind": "continuous", "sdtype": "datetime", "edges": [0.0, 8.64e10, 1.728e11],
                   "real": [0.25, 0.75], "synthetic": [0.5, 0.5]},
            "city": {"kind": "discrete", "sdtype": "categorical", "categories": [EVIL, None],
                     "real": [0.7, 0.3], "synthetic": [0.4, 0.6]}},
            "correlation": {"columns": [EVIL, "b"], "real": [[1.0, 0.5], [0.5, 1.0]],
                            "synthetic": [[1.0, None], [None, 1.0]]}}},
            "cardinality": [{"child_table": "orders", "foreign_key": "cid", "parent_table": "c",
                             "primary_key": "id", "real": {"0": 3, "1": 5, "40": 1},
                             "synthetic": {"0": 1, "2": 8}}]},
        "settings": {"seed": 1, "note": EVIL},
        "timings_s": {"column_shapes": 1.5},
    }


def test_report_side_imports_no_spark():
    """Loading and rendering a saved report works where pyspark is not imported."""
    import os
    import subprocess

    code = ("import sys, synthohive_spark.validation as v; "
            "r = v.ValidationReport({'score': 0.5, 'properties': {}, 'details': {}}); r.to_html(); "
            "assert 'pyspark' not in sys.modules, sorted(m for m in sys.modules if 'spark' in m)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr


def test_json_is_strict_and_round_trips(tmp_path):
    rep = ValidationReport(_data())
    path = tmp_path / "a" / "r.json"
    rep.save_json(str(path))
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text
    loaded = json.loads(text)
    assert loaded["details"]["column_pair_trends"][1]["synthetic_correlation"] is None
    back = ValidationReport.load_json(str(path))
    assert back.to_dict() == rep.to_dict()
    assert back.score == pytest.approx(0.875)
    assert rep.properties["Referential Integrity"] == 1.0
    df = rep.get_details("Column Shapes")
    assert list(df["column"]) == [EVIL, "city", "gone"]
    with pytest.raises(KeyError, match="available"):
        rep.get_details("nope")


def test_html_escapes_every_name_and_is_self_contained(tmp_path):
    rep = ValidationReport(_data())
    html_text = rep.to_html()
    assert EVIL not in html_text
    assert "<img" not in html_text and "onerror=\"alert" not in html_text
    assert esc(EVIL) in html_text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\u2603 &amp; &#x27;q&#x27;" in html_text
    assert "<script" not in html_text and "src=" not in html_text.replace("&lt;img src=x", "")
    assert "http://" not in html_text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html_text
    # tags balance for the SVG charts
    assert html_text.count("<svg") == html_text.count("</svg>") >= 6
    path = tmp_path / "r.html"
    rep.save_html(str(path))
    assert path.read_text(encoding="utf-8") == html_text


def test_charts_reflect_the_data():
    hist = svg_histogram({"real": [0.25, 0.75], "synthetic": [0.5, 0.5], "edges": [0, 1, 2], "sdtype": "numerical"})
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', hist)]
    assert len(heights) == 4
    # bars in order real0, syn0, real1, syn1; the tallest (0.75) fills the plot height
    assert heights[2] == max(heights) and heights[0] == pytest.approx(heights[2] / 3, rel=1e-3)
    bars = svg_bars({"categories": ["a", None], "real": [0.7, 0.3], "synthetic": [0.4, 0.6]})
    assert "(missing)" in bars
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', bars)]
    assert widths[0] == max(widths)
    heat = svg_heatmap(["a", "b"], [[1.0, -1.0], [-1.0, 1.0]], "Real")
    assert "rgb(31,95,139)" in heat and "rgb(179,38,30)" in heat
    card = svg_cardinality({"0": 3, "1": 5, "40": 1}, {"0": 1, "2": 8})
    assert "40" in card and "children per parent" in card
    many = svg_cardinality({str(i): 1 for i in range(100)}, {"0": 1}, max_bars=10)
    assert "9+" in many


def test_datetime_axis_labels():
    hist = svg_histogram({"real": [1.0], "synthetic": [1.0], "edges": [0.0, 86400e6], "sdtype": "datetime"})
    assert "1970-01-01" in hist and "1970-01-02" in hist


def test_check_passes_and_fails_with_names():
    ok = ValidationReport(_data(0.9, 0.85))
    assert ok.check(min_score=0.8) is ok
    bad = ValidationReport(_data(0.5, 0.6))
    with pytest.raises(QualityGateError) as ei:
        bad.check(min_score=0.8)
    msg = str(ei.value)
    assert "overall score 0.550 is below 0.800" in msg
    assert "Column Shapes 0.500" in msg and "Column Pair Trends 0.600" in msg
    assert f"{EVIL}.city (TVComplement) 0.400" in msg
    # a pair that does not count (below the real-trend threshold) is not blamed
    assert "a x b" not in msg
    assert ei.value.score == pytest.approx(0.55)
    assert len(ei.value.failures) == 2


def test_check_property_floor_and_integrity():
    rep = ValidationReport(_data(0.95, 0.85, orphans=2))
    with pytest.raises(QualityGateError, match=r"2 of 10 synthetic foreign keys have no parent"):
        rep.check(min_score=0.8)
    rep.check(min_score=0.8, require_referential_integrity=False)
    with pytest.raises(QualityGateError, match=r"property Column Pair Trends scores 0.850, below 0.900"):
        rep.check(min_score=0.8, min_property_score=0.9, require_referential_integrity=False)


def test_check_without_score_explains():
    data = _data()
    data["score"] = None
    for p in data["properties"].values():
        p["score"] = None
    rep = ValidationReport(data)
    with pytest.raises(QualityGateError, match="could not be computed.*gone: all values are missing"):
        rep.check()


def test_nan_and_numpy_values_are_cleaned():
    np = pytest.importorskip("numpy")
    rep = ValidationReport({"score": np.float64(0.5), "properties": {}, "details": {"x": [float("inf")]}})
    assert rep.score == 0.5 and isinstance(rep.score, float)
    assert rep.details["x"] == [None]
    assert not any(isinstance(v, float) and math.isnan(v) for v in rep.details["x"] if v is not None)
    assert "n/a" not in repr(rep)

"""ValidationReport: the numbers evaluate() computed, as a dict, JSON, or a self-contained HTML page,
and the quality gate. No Spark import here: a saved JSON report can be loaded and rendered anywhere.
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Any

from .errors import QualityGateError

logger = logging.getLogger("synthohive_spark.validation.report")

PROPERTY_DESCRIPTIONS = {
    "Column Shapes": "How well each column's marginal distribution is kept: KS complement for "
                     "numbers and datetimes, TV complement for categories and booleans (SDMetrics).",
    "Column Pair Trends": "How well relationships between pairs of columns are kept: correlation "
                          "similarity for two continuous columns, contingency similarity otherwise "
                          "(continuous columns cut into 10 bins).",
    "Cardinality": "How well the number of children per parent is kept: KS complement of the "
                   "child-count distributions per relationship (parents without children count 0).",
    "Intertable Trends": "Column pair trends between a parent's columns and its children's "
                         "columns, across the parent-child join.",
    "Missing Values": "1 - |missing rate real - missing rate synthetic| per column (reported, not "
                      "part of the overall score, as in SDMetrics' QualityReport).",
    "Referential Integrity": "Share of synthetic foreign keys that point at an existing synthetic "
                             "parent (reported, not part of the overall score; the gate requires 1).",
}


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, tuples -> lists, keys -> str."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return _clean(obj.item())
    return obj


class ValidationReport:
    """Quality (and privacy) of synthetic data against real data.

    ``score`` is the overall quality score in [0, 1] (None when nothing could be scored);
    ``properties`` maps each property to its score; ``details`` maps ``column_shapes``,
    ``column_pair_trends``, ``cardinality``, ``intertable_trends``, ``missing_values``,
    ``referential_integrity`` and ``not_applicable`` to lists of rows (dicts); ``privacy`` holds
    the privacy section per table when a holdout was given (DCR, exact copies and
    ``membership_inference_auc`` with its sample sizes), ``privacy["membership_inference_auc"]``
    (table -> AUC) and, when the metadata sets ``privacy.k_anonymity``,
    ``privacy["k_anonymity"]`` (table -> smallest class, rows and classes below k); when it sets
    ``privacy.min_dcr`` or ``exact_copy_tolerance``, ``privacy["copy_settings"]``
    (table -> the share of sampled synthetic rows below min_dcr, the exact-copy rate against the
    tolerance, and whether each holds); with
    ``evaluate(..., model=m)`` of a model fitted with epsilon, ``privacy["differential_privacy"]``
    (its statement: epsilon and delta spent, what is and is not covered).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = _clean(data)

    # ------------------------------------------------------------------ accessors
    @property
    def score(self) -> float | None:
        return self._data.get("score")

    @property
    def properties(self) -> dict[str, float | None]:
        out = {k: v["score"] for k, v in self._data.get("properties", {}).items()}
        out.update({k: v["score"] for k, v in self._data.get("additional_properties", {}).items()})
        return out

    @property
    def details(self) -> dict[str, list[dict[str, Any]]]:
        return self._data.get("details", {})

    @property
    def privacy(self) -> dict[str, Any]:
        return self._data.get("privacy", {})

    @property
    def settings(self) -> dict[str, Any]:
        return self._data.get("settings", {})

    @property
    def timings(self) -> dict[str, float]:
        return self._data.get("timings_s", {})

    def get_details(self, name: str):
        """One details table as a pandas DataFrame (e.g. ``"column_shapes"``)."""
        import pandas as pd

        key = name.lower().replace(" ", "_")
        if key not in self.details:
            raise KeyError(f"No details named {name!r}; available: {sorted(self.details)}")
        return pd.DataFrame(self.details[key])

    def to_dict(self) -> dict[str, Any]:
        """All numbers, JSON-safe (a deep copy)."""
        return json.loads(json.dumps(self._data))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ValidationReport":
        return cls(data)

    @classmethod
    def load_json(cls, path: str) -> "ValidationReport":
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def save_json(self, path: str) -> None:
        """Write the report's numbers as JSON (strict: no NaN)."""
        _ensure_dir(path)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self._data, fh, indent=2, allow_nan=False, ensure_ascii=False)

    def to_html(self) -> str:
        """The report as one self-contained HTML page (inline CSS and SVG, no script, no network)."""
        from ._html import render

        return render(self._data)

    def save_html(self, path: str) -> None:
        """Write the self-contained HTML report."""
        _ensure_dir(path)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_html())

    def __repr__(self) -> str:
        s = "n/a" if self.score is None else f"{self.score:.4f}"
        props = ", ".join(f"{k}={'n/a' if v is None else f'{v:.3f}'}" for k, v in self.properties.items())
        return f"ValidationReport(score={s}, {props})"

    # ------------------------------------------------------------------ quality gate
    def failures(self, min_score: float = 0.8, min_property_score: float | None = None,
                 require_referential_integrity: bool = True, max_listed: int = 10) -> list[str]:
        """What falls short of the gate (empty when it passes)."""
        out: list[str] = []
        props = self._data.get("properties", {})
        if self.score is None:
            reasons = sorted({f"{r['table']}.{r['column']}: {r['reason']}"
                              for r in self.details.get("column_shapes", []) if r.get("reason")})
            out.append("overall score could not be computed"
                       + (f" ({'; '.join(reasons[:max_listed])})" if reasons else ""))
        elif self.score < min_score:
            low = [f"{k} {v['score']:.3f}" for k, v in props.items()
                   if v["score"] is not None and v["score"] < min_score]
            msg = f"overall score {self.score:.3f} is below {min_score:.3f}"
            if low:
                msg += f"; properties below it: {', '.join(low)}"
            out.append(msg)
            worst = self._worst(min_score, max_listed)
            if worst:
                out.append("lowest scores: " + "; ".join(worst))
        if min_property_score is not None:
            for k, v in props.items():
                if v["score"] is not None and v["score"] < min_property_score:
                    out.append(f"property {k} scores {v['score']:.3f}, below {min_property_score:.3f}")
        for r in self.details.get("column_shapes", []):
            if r.get("synthetic_all_missing"):
                out.append(f"{r['table']}.{r['column']}: every synthetic value is missing while the "
                           "real column has values")
        if require_referential_integrity:
            for r in self.details.get("referential_integrity", []):
                if r.get("score") is not None and r["score"] < 1.0:
                    out.append(f"referential integrity {r['child_table']}.{r['foreign_key']} -> "
                               f"{r['parent_table']}.{r['primary_key']}: {r['synthetic_orphans']} of "
                               f"{r['synthetic_foreign_keys']} synthetic foreign keys have no parent")
        return out

    def _worst(self, below: float, n: int) -> list[str]:
        items = []
        for r in self.details.get("column_shapes", []):
            if r.get("score") is not None and r["score"] < below:
                items.append((r["score"], f"{r['table']}.{r['column']} ({r['metric']}) {r['score']:.3f}"))
        for key in ("column_pair_trends", "intertable_trends"):
            for r in self.details.get(key, []):
                if r.get("score") is not None and r["score"] < below and r.get("meets_threshold", True):
                    t = r.get("table") or f"{r.get('parent_table')}/{r.get('child_table')}"
                    items.append((r["score"], f"{t}: {r['column_1']} x {r['column_2']} "
                                              f"({r['metric']}) {r['score']:.3f}"))
        for r in self.details.get("cardinality", []):
            if r.get("score") is not None and r["score"] < below:
                items.append((r["score"], f"cardinality {r['parent_table']} -> {r['child_table']} "
                                          f"({r['foreign_key']}) {r['score']:.3f}"))
        return [s for _, s in sorted(items, key=lambda x: x[0])[:n]]

    def check(self, min_score: float = 0.8, min_property_score: float | None = None,
              require_referential_integrity: bool = True) -> "ValidationReport":
        """Raise QualityGateError naming what fell short; return self when the gate passes."""
        fails = self.failures(min_score, min_property_score, require_referential_integrity)
        if fails:
            raise QualityGateError("Synthetic data failed the quality gate: " + " | ".join(fails),
                                   failures=fails, score=self.score)
        return self


def _ensure_dir(path: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)

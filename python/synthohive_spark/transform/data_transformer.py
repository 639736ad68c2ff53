"""DataTransformer: a reversible encoding of a pandas DataFrame to a float matrix and back.

- numerical columns (numbers, datetimes, dates, decimals): mode-specific normalization. A Bayesian
  Gaussian mixture (at most ``max_modes`` modes, modes under ``weight_threshold`` dropped), fit on a
  bounded sample, gives each value a mode; the value becomes a scalar in [-1, 1] (``tanh`` span)
  plus a one-hot mode indicator (``softmax`` span);
- categorical columns (strings, booleans, constants): a one-hot ``softmax`` span up to
  ``max_onehot`` categories; above it a single ``embedding`` column holding the category code, for
  the model to embed (a 5,000-category column stays one input, not 5,000);
- missing values: a categorical column's missing value is one more category; a numerical column
  with missing values gets a two-way ``softmax`` null indicator span (present, missing).

``inverse_transform`` takes a matrix of the same layout (softmax spans as scores: the argmax is
taken; embedding spans as codes) and returns exactly the fit-time columns, order and dtypes. The
fitted state is a JSON-able dict.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.transform.columns import ColumnCodec, TransformError, check_frame
from synthohive_spark.transform.gmm import fit_dp_gmm_1d

logger = logging.getLogger("synthohive_spark.transform.data_transformer")

STATE_VERSION = 1


@dataclass(frozen=True)
class Span:
    """A block of the encoded matrix that belongs to one column."""

    column: str
    role: str  # "value" | "mode" | "null" | "category" | "embedding"
    activation: str  # "tanh" | "softmax" | "embedding"
    start: int
    width: int  # columns of the encoded matrix (1 for tanh and embedding spans)
    n_categories: int  # softmax width or number of embedded categories (0 for tanh)

    @property
    def end(self) -> int:
        return self.start + self.width


def _fit_gmm(values: np.ndarray, max_modes: int, weight_threshold: float, seed: int) -> dict[str, list[float]]:
    """Means, standard deviations and weights of the kept modes of a Bayesian GMM.

    The mixture (a Dirichlet-process Gaussian mixture, :func:`fit_dp_gmm_1d`) is fit on the
    standardized values; modes whose weight is not above ``weight_threshold`` are dropped (the
    heaviest is always kept) and the rest are returned in the original units.
    """
    mu, sd = float(values.mean()), float(values.std())
    if sd <= 0 or not np.isfinite(sd):
        return {"means": [mu], "stds": [1.0], "weights": [1.0]}
    z = (values - mu) / sd
    n_comp = int(min(max_modes, len(z)))  # fit_dp_gmm_1d caps it at the distinct values (>= 2 here)
    if n_comp < 2:
        return {"means": [mu], "stds": [sd], "weights": [1.0]}
    w, m, v = fit_dp_gmm_1d(z, n_comp, seed=seed, weight_concentration_prior=1e-3, max_iter=100, tol=1e-3)
    keep = w > weight_threshold
    if not keep.any():
        keep = w == w.max()
    means = m[keep] * sd + mu
    stds = np.sqrt(v[keep]) * sd
    stds = np.maximum(stds, 1e-6 * max(sd, 1e-12))
    weights = w[keep] / w[keep].sum()
    return {"means": means.tolist(), "stds": stds.tolist(), "weights": weights.tolist()}


class DataTransformer:
    """Fit on a DataFrame; ``transform`` to a float32 matrix; ``inverse_transform`` back.

    Args:
        column_specs: column name -> {"sdtype", "min", "max", "integer", "decimals"} (all optional).
        max_modes: most Gaussian mixture modes per numerical column.
        weight_threshold: modes lighter than this are dropped.
        max_onehot: categorical columns with more categories (missing included) are embedded.
        gmm_sample_size: rows per column the mixture is fit on (a seeded sample).
        seed: seed of the sampling done at fit.
    """

    def __init__(self, column_specs: dict[str, dict[str, Any]] | None = None, max_modes: int = 10,
                 weight_threshold: float = 0.005, max_onehot: int = 50, gmm_sample_size: int = 5000,
                 seed: int = 0) -> None:
        self.column_specs = dict(column_specs or {})
        self.max_modes = int(max_modes)
        self.weight_threshold = float(weight_threshold)
        self.max_onehot = int(max_onehot)
        self.gmm_sample_size = int(gmm_sample_size)
        self.seed = int(seed)
        self.codecs: list[ColumnCodec] = []
        self.gmms: dict[str, dict[str, list[float]]] = {}
        self.spans: list[Span] = []
        self.output_width = 0
        self.fitted = False

    # ------------------------------------------------------------------ fit
    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.codecs]

    def fit(self, data: pd.DataFrame, what: str = "data") -> "DataTransformer":
        check_frame(data, what)
        unknown = set(self.column_specs) - set(data.columns)
        if unknown:
            logger.debug("column specs for columns not in %s ignored: %s", what, sorted(unknown))
        rng = np.random.default_rng(self.seed)
        self.codecs, self.gmms = [], {}
        for i, name in enumerate(data.columns):
            codec = ColumnCodec.fit(name, data[name], self.column_specs.get(name))
            self.codecs.append(codec)
            if codec.kind == "numerical":
                vals = codec.numeric_values(data[name])
                vals = vals[~np.isnan(vals)]
                if len(vals) > self.gmm_sample_size:
                    vals = rng.choice(vals, size=self.gmm_sample_size, replace=False)
                self.gmms[name] = _fit_gmm(vals, self.max_modes, self.weight_threshold, self.seed + i)
        self._layout()
        self.fitted = True
        return self

    def _layout(self) -> None:
        spans: list[Span] = []
        pos = 0

        def add(col: str, role: str, act: str, width: int, k: int) -> None:
            nonlocal pos
            spans.append(Span(col, role, act, pos, width, k))
            pos += width

        for codec in self.codecs:
            if codec.kind == "numerical":
                add(codec.name, "value", "tanh", 1, 0)
                k = len(self.gmms[codec.name]["means"])
                add(codec.name, "mode", "softmax", k, k)
                if codec.has_null:
                    add(codec.name, "null", "softmax", 2, 2)
            else:
                k = codec.n_categories
                if k <= 1:
                    continue
                if k <= self.max_onehot:
                    add(codec.name, "category", "softmax", k, k)
                else:
                    add(codec.name, "embedding", "embedding", 1, k)
        self.spans = spans
        self.output_width = pos

    def _check(self) -> None:
        if not self.fitted:
            raise TransformError("DataTransformer is not fitted; call fit(data) first")

    def spans_of(self, column: str) -> list[Span]:
        return [s for s in self.spans if s.column == column]

    # ------------------------------------------------------------ transform
    def transform(self, data: pd.DataFrame, rng: np.random.Generator | None = None,
                  what: str = "data") -> np.ndarray:
        """Encode ``data`` (the fit-time columns, any order) to a float32 matrix."""
        self._check()
        missing = [c for c in self.columns if c not in data.columns]
        if missing:
            raise TransformError(f"{what} lacks the fit-time columns {missing}; expected columns {self.columns}")
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        n = len(data)
        out = np.zeros((n, self.output_width), dtype=np.float32)
        by_col: dict[str, list[Span]] = {}
        for s in self.spans:
            by_col.setdefault(s.column, []).append(s)
        rows = np.arange(n)
        for codec in self.codecs:
            spans = by_col.get(codec.name)
            if not spans:
                continue
            series = data[codec.name]
            if codec.kind == "numerical":
                vals = codec.numeric_values(series)
                null = np.isnan(vals)
                g = self.gmms[codec.name]
                means, stds, w = (np.asarray(g[k]) for k in ("means", "stds", "weights"))
                x = np.where(null, means[int(np.argmax(w))], vals)
                logp = -0.5 * ((x[:, None] - means[None, :]) / stds[None, :]) ** 2 - np.log(stds) + np.log(w)
                logp -= logp.max(axis=1, keepdims=True)
                p = np.exp(logp)
                cum = np.cumsum(p, axis=1)
                u = rng.random(n) * cum[:, -1]
                mode = np.minimum((cum < u[:, None]).sum(axis=1), len(means) - 1)
                scalar = np.clip((x - means[mode]) / (4 * stds[mode]), -0.99, 0.99)
                scalar[null] = 0.0
                vs, ms = spans[0], spans[1]
                out[:, vs.start] = scalar
                out[rows, ms.start + mode] = 1.0
                if codec.has_null:
                    ns = spans[2]
                    out[rows, ns.start + null.astype(np.int64)] = 1.0
            else:
                codes = codec.codes(series)
                s = spans[0]
                if s.activation == "softmax":
                    ok = codes >= 0
                    out[rows[ok], s.start + codes[ok]] = 1.0
                else:
                    out[:, s.start] = np.where(codes >= 0, codes, 0)
        return out

    def inverse_transform(self, matrix: np.ndarray) -> pd.DataFrame:
        """Decode a matrix of this layout to a DataFrame with the fit-time columns and dtypes."""
        self._check()
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != self.output_width:
            raise TransformError(f"matrix of shape {matrix.shape} does not match the transformer's layout "
                                 f"(n, {self.output_width})")
        n = matrix.shape[0]
        scalars = np.empty((n, self.n_scalars), dtype=np.float64)
        codes = np.empty((n, self.n_codes), dtype=np.int64)
        i = j = 0
        for s in self.spans:
            if s.activation == "tanh":
                scalars[:, i] = matrix[:, s.start]
                i += 1
            else:
                if s.activation == "softmax":
                    codes[:, j] = np.argmax(matrix[:, s.start:s.end], axis=1)
                else:
                    codes[:, j] = np.clip(np.rint(matrix[:, s.start]), 0, s.n_categories - 1)
                j += 1
        return self.decode(scalars, codes)

    @property
    def arrow_output(self) -> bool:
        """Whether decoding returns dates and decimals Arrow-backed (``pd.ArrowDtype``) rather than as
        Python objects; a runtime switch for writers that take Arrow (never saved)."""
        return any(c.arrow_output for c in self.codecs)

    @arrow_output.setter
    def arrow_output(self, value: bool) -> None:
        for c in self.codecs:
            c.arrow_output = bool(value)

    @property
    def n_scalars(self) -> int:
        """Spans with a ``tanh`` scalar (one per numerical column), in span order."""
        return sum(1 for s in self.spans if s.activation == "tanh")

    @property
    def n_codes(self) -> int:
        """Spans that hold a category (softmax or embedding spans), in span order."""
        return sum(1 for s in self.spans if s.activation != "tanh")

    def decode(self, scalars: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
        """Rows from their decoded parts: ``scalars`` (n, n_scalars) in [-1, 1], one per tanh span,
        and ``codes`` (n, n_codes), the category drawn in every softmax/embedding span (mode index
        for a mode span, 1 = missing for a null span), both in span order."""
        self._check()
        scalars = np.asarray(scalars)
        codes = np.asarray(codes)
        n = scalars.shape[0]
        if scalars.shape != (n, self.n_scalars) or codes.shape != (n, self.n_codes):
            raise TransformError(f"decoded parts of shapes {scalars.shape} and {codes.shape} do not match "
                                 f"the transformer's layout ((n, {self.n_scalars}) and (n, {self.n_codes}))")
        index = pd.RangeIndex(n)
        scalar_of: dict[tuple[str, str], int] = {}
        code_of: dict[tuple[str, str], int] = {}
        for s in self.spans:
            table = scalar_of if s.activation == "tanh" else code_of
            table[(s.column, s.role)] = len(table)
        cols: dict[str, pd.Series] = {}
        for codec in self.codecs:
            name = codec.name
            if codec.kind == "numerical":
                g = self.gmms[name]
                means, stds = np.asarray(g["means"]), np.asarray(g["stds"])
                mode = codes[:, code_of[(name, "mode")]]
                scalar = np.clip(scalars[:, scalar_of[(name, "value")]].astype(np.float64), -1.0, 1.0)
                vals = scalar * 4 * stds[mode] + means[mode]
                null = codes[:, code_of[(name, "null")]] == 1 if codec.has_null else None
                cols[name] = codec.from_numeric(vals, null, index=index)
            else:
                key = next((k for k in ((name, "category"), (name, "embedding")) if k in code_of), None)
                if key is None:
                    c = np.zeros(n, dtype=np.int64) if codec.categories else np.full(n, -1, dtype=np.int64)
                else:
                    c = codes[:, code_of[key]]
                cols[name] = codec.from_codes(c, index=index)
        return pd.DataFrame(cols, index=index)

    # ---------------------------------------------------------------- state
    def to_state(self) -> dict[str, Any]:
        self._check()
        return {
            "version": STATE_VERSION,
            "params": {"max_modes": self.max_modes, "weight_threshold": self.weight_threshold,
                       "max_onehot": self.max_onehot, "gmm_sample_size": self.gmm_sample_size,
                       "seed": self.seed, "column_specs": self.column_specs},
            "columns": [c.to_state() for c in self.codecs],
            "gmms": self.gmms,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "DataTransformer":
        if state.get("version") != STATE_VERSION:
            raise TransformError(f"DataTransformer state version {state.get('version')!r} is not supported; "
                                 f"expected {STATE_VERSION}")
        obj = cls(**state["params"])
        obj.codecs = [ColumnCodec.from_state(c) for c in state["columns"]]
        obj.gmms = {k: dict(v) for k, v in state["gmms"].items()}
        obj._layout()
        obj.fitted = True
        return obj

"""How many children a parent has, conditioned on the parent's attributes (pandas/numpy only).

:class:`ChildCountModel` fits a small regression tree (scikit-learn, bounded leaves) on the encoded
parent context predicting the child count, keeps the tree's arrays and, per leaf, the empirical
count histogram (bounded: rare large counts are bucketed), and exports all of it as plain JSON.
Sampling routes each parent through the tree in numpy and draws its count from its leaf's
histogram with a seeded generator, vectorised over the batch.

:meth:`ChildCountModel.fit_private` is the differentially private variant: no context (a tree's
splits would read the parents' columns and counts), and one histogram over buckets fixed in
advance (each count up to 15, then powers of two), released with Gaussian noise.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from synthohive_spark.errors import CardinalityError  # noqa: F401 (re-exported)
from synthohive_spark.relational.rules import as_numbers

logger = logging.getLogger("synthohive_spark.relational.cardinality")

__all__ = ["ChildCountModel", "CardinalityError", "encode_context", "STATE_VERSION"]

STATE_VERSION = 1


# ------------------------------------------------------------------------------ encoding
def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    nonnull = series.dropna()
    if len(nonnull) and all(hasattr(v, "toordinal") for v in nonnull.iloc[:50]):
        return "date"  # python date objects (Spark DateType through Arrow)
    return "category"


def _as_float(series: pd.Series, kind: str) -> np.ndarray:
    if kind == "bool":
        return series.map(lambda v: np.nan if v is None or v is pd.NA else float(bool(v))) \
            .to_numpy(dtype="float64")
    if kind == "datetime":
        return as_numbers(pd.to_datetime(series, utc=True))
    if kind == "date":
        return series.map(lambda v: np.nan if v is None or v is pd.NA or v != v
                          else float(v.toordinal())).to_numpy(dtype="float64")
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()


def _fit_encoding(context: pd.DataFrame, counts: np.ndarray, max_categories: int) -> list[dict]:
    """Per column: how to turn it into one float feature (categories ordered by mean count)."""
    enc: list[dict] = []
    for col in context.columns:
        s = context[col]
        kind = _kind(s)
        if kind == "category":
            keys = s.astype("object").where(s.notna(), None).map(
                lambda v: None if v is None else str(v))
            frame = pd.DataFrame({"k": keys.fillna("\x00null"), "c": counts})
            stats = frame.groupby("k", sort=True)["c"].agg(["mean", "size"])
            stats = stats.sort_values("size", ascending=False, kind="stable").iloc[:max_categories]
            stats = stats.sort_values("mean", kind="stable")
            codes = {k: float(i) for i, k in enumerate(stats.index)}
            enc.append({"column": col, "kind": kind, "codes": codes,
                        "other": float(len(codes)) / 2.0})
        else:
            values = _as_float(s, kind)
            finite = values[np.isfinite(values)]
            fill = float(finite.min() - 1.0) if len(finite) else 0.0
            enc.append({"column": col, "kind": kind, "fill": fill})
    return enc


def encode_context(context: pd.DataFrame, encoding: list[dict]) -> np.ndarray:
    """The float feature matrix of ``context`` under a fitted ``encoding``."""
    n = len(context)
    x = np.zeros((n, len(encoding)), dtype="float64")
    for j, e in enumerate(encoding):
        col = e["column"]
        if col not in context.columns:
            raise CardinalityError(f"context column {col!r} is missing; the model was fitted on "
                                   f"{[d['column'] for d in encoding]}, got {list(context.columns)}")
        s = context[col]
        if e["kind"] == "category":
            keys = s.astype("object").map(lambda v: "\x00null" if v is None or v is pd.NA
                                          or (isinstance(v, float) and math.isnan(v)) else str(v))
            x[:, j] = keys.map(e["codes"]).fillna(e["other"]).to_numpy(dtype="float64")
        else:
            # _as_float may return a read-only view of the column's data (pandas Copy-on-Write,
            # Arrow batches): fill the missing values in our own matrix, never in that view
            x[:, j] = _as_float(s, e["kind"])
            col_j = x[:, j]
            col_j[~np.isfinite(col_j)] = e["fill"]
    return x


# ------------------------------------------------------------------------------ histograms
def _histogram(counts: np.ndarray, max_bins: int) -> list[list[float]]:
    """Buckets ``[lo, hi, p]`` of the empirical count distribution: exact values while there are
    few, the tail merged into quantile buckets beyond ``max_bins`` distinct values."""
    values, freq = np.unique(counts.astype(np.int64), return_counts=True)
    total = float(freq.sum())
    if len(values) <= max_bins:
        return [[int(v), int(v), float(f) / total] for v, f in zip(values, freq)]
    exact = max_bins // 2
    order = np.argsort(-freq, kind="stable")
    keep = set(values[order[:exact]].tolist())
    out: list[list[float]] = []
    rest_v, rest_f = [], []
    for v, f in zip(values, freq):
        if int(v) in keep:
            out.append([int(v), int(v), float(f) / total])
        else:
            rest_v.append(int(v))
            rest_f.append(int(f))
    n_buckets = max(1, max_bins - exact)
    groups = np.array_split(np.arange(len(rest_v)), n_buckets)
    for g in groups:
        if len(g) == 0:
            continue
        out.append([rest_v[g[0]], rest_v[g[-1]], float(sum(rest_f[i] for i in g)) / total])
    out.sort(key=lambda b: b[0])
    return out


def _draw(hist: np.ndarray, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one count per row; ``hist`` is (leaves, buckets, 3) padded with p=0.

    The uniforms are stratified over the batch: row i gets ``(s_i + v_i) / n`` with ``s`` a random
    permutation of ``0..n-1`` and ``v`` uniform, so each row's count still follows its histogram
    exactly, while the batch covers the distribution evenly. With skewed keys (one parent holding
    half the children) independent draws made a child table anywhere from a tenth to three times
    the real size at scale 1; stratified, the rare large counts come up as often as they should.
    """
    probs = hist[idx, :, 2]
    cdf = np.cumsum(probs, axis=1)
    n = len(idx)
    u = (rng.permutation(n) + rng.random(n)) / n * cdf[:, -1]
    b = (cdf < u[:, None]).sum(axis=1)
    b = np.minimum(b, hist.shape[1] - 1)
    lo = hist[idx, b, 0]
    hi = hist[idx, b, 1]
    width = hi - lo + 1
    return (lo + np.floor(rng.random(len(idx)) * width)).astype(np.int64)


#: the buckets of a differentially private count histogram, fixed before looking at the data:
#: each count from 0 to 15, then [16, 31], [32, 63], ... up to 2^31 - 1
PRIVATE_BUCKETS = ([[v, v] for v in range(16)]
                   + [[2 ** k, 2 ** (k + 1) - 1] for k in range(4, 31)])


def _private_histogram(counts: np.ndarray, sd: float, rng: np.random.Generator
                       ) -> list[list[float]]:
    """``[lo, hi, p]`` over :data:`PRIVATE_BUCKETS` from the bucket counts plus Gaussian noise of
    standard deviation ``sd``. Buckets under 4 sd are dropped (an empty bucket's noise alone
    would otherwise give every one of the 43 a share; at 3 sd one of the 27 empty power-of-two
    buckets above the real counts survived in about 4% of fits, and a parent drawn from it got
    up to two billion children), and so is everything after the first three empty buckets in a
    row past the first kept one: real counts fill their buckets without such gaps
    (post-processing: no privacy cost). With nothing above the threshold, one exact count."""
    los = np.array([b[0] for b in PRIVATE_BUCKETS], dtype=np.int64)
    idx = np.searchsorted(los, counts, side="right") - 1
    raw = np.bincount(idx, minlength=len(los)).astype("float64") + rng.normal(0.0, sd, len(los))
    # the children in all: the same mechanism (one more cell, one more unit of sensitivity)
    total = max(float(counts.sum()) + float(rng.normal(0.0, sd)), 0.0)
    noisy = np.where(raw < 4 * sd, 0.0, raw)
    if noisy.any():
        first = int(np.flatnonzero(noisy)[0])
        empty = np.convolve((noisy[first:] == 0).astype(int), np.ones(3, dtype=int), "valid") == 3
        if empty.any():
            noisy[first + int(np.argmax(empty)):] = 0.0
    else:  # all of it under the threshold: Poisson counts at the noisy mean
        from scipy.stats import poisson

        mean = total / max(len(counts), 1)
        his = np.array([b[1] for b in PRIVATE_BUCKETS], dtype="float64")
        noisy = np.diff(np.concatenate([[0.0], poisson.cdf(his, mean)]))
        noisy[noisy < 1e-9] = 0.0
    p = noisy / noisy.sum()
    return [[int(lo), int(hi), float(q)] for (lo, hi), q in zip(PRIVATE_BUCKETS, p) if q > 0]


# ------------------------------------------------------------------------------ the model
class ChildCountModel:
    """Number of children per parent given the parent's context columns.

    >>> import pandas as pd, numpy as np
    >>> ctx = pd.DataFrame({"segment": ["a", "b"] * 200})
    >>> counts = np.where(ctx["segment"] == "a", 1, 6)
    >>> m = ChildCountModel().fit(ctx, counts)
    >>> m.sample(pd.DataFrame({"segment": ["a", "b"]}), seed=0).tolist()
    [1, 6]
    """

    def __init__(self, max_leaves: int = 32, min_samples_leaf: int = 20, max_bins: int = 40,
                 max_categories: int = 50) -> None:
        if max_leaves < 1 or min_samples_leaf < 1 or max_bins < 2 or max_categories < 1:
            raise CardinalityError(
                f"ChildCountModel: expected max_leaves >= 1, min_samples_leaf >= 1, max_bins >= 2 "
                f"and max_categories >= 1; got {max_leaves}, {min_samples_leaf}, {max_bins}, "
                f"{max_categories}")
        self.max_leaves = int(max_leaves)
        self.min_samples_leaf = int(min_samples_leaf)
        self.max_bins = int(max_bins)
        self.max_categories = int(max_categories)
        self.state: Optional[dict[str, Any]] = None
        self._hist: Optional[np.ndarray] = None

    # -------------------------------------------------------------- fit
    @staticmethod
    def _checked_counts(counts: Any, where: str) -> np.ndarray:
        counts = np.asarray(counts)
        if counts.ndim != 1 or len(counts) == 0:
            raise CardinalityError(f"ChildCountModel.{where}: counts must be a non-empty 1-d "
                                   f"array (one child count per parent)")
        if np.any(pd.isna(counts)) or np.any(counts < 0) or \
                np.any(np.asarray(counts, dtype="float64") != np.floor(counts)):
            raise CardinalityError(f"ChildCountModel.{where}: child counts must be non-negative "
                                   f"integers (zero for a parent without children)")
        return counts.astype(np.int64)

    def fit(self, context: Optional[pd.DataFrame], counts: Any) -> "ChildCountModel":
        """Learn from one row per parent: its context columns and its number of children."""
        counts = self._checked_counts(counts, "fit")
        if context is None:
            context = pd.DataFrame(index=range(len(counts)))
        if len(context) != len(counts):
            raise CardinalityError(f"ChildCountModel.fit: {len(context)} context rows but "
                                   f"{len(counts)} counts; expected one count per parent row")
        context = context.reset_index(drop=True)
        encoding = _fit_encoding(context, counts, self.max_categories)
        if encoding:
            from sklearn.tree import DecisionTreeRegressor

            x = encode_context(context, encoding)
            # small tables: at most sqrt(parents) per leaf (12 of 150), so that a segment of a
            # few dozen parents can still get its own leaf instead of being averaged away
            leaf_min = min(self.min_samples_leaf, max(5, int(math.sqrt(len(counts)))),
                           max(1, len(counts) // 2))
            tree = DecisionTreeRegressor(max_leaf_nodes=max(2, self.max_leaves),
                                         min_samples_leaf=leaf_min, random_state=0)
            tree.fit(x, counts.astype("float64"))
            t = tree.tree_
            nodes = {"feature": t.feature.astype(int).tolist(),
                     "threshold": [float(v) for v in t.threshold],
                     "left": t.children_left.astype(int).tolist(),
                     "right": t.children_right.astype(int).tolist()}
            leaf_of = tree.apply(x)
        else:
            nodes = {"feature": [-2], "threshold": [-2.0], "left": [-1], "right": [-1]}
            leaf_of = np.zeros(len(counts), dtype=int)
        leaves = sorted(set(int(v) for v in leaf_of))
        histograms = {str(leaf): _histogram(counts[leaf_of == leaf], self.max_bins)
                      for leaf in leaves}
        self.state = {
            "version": STATE_VERSION,
            "hyper": {"max_leaves": self.max_leaves, "min_samples_leaf": self.min_samples_leaf,
                      "max_bins": self.max_bins, "max_categories": self.max_categories},
            "encoding": encoding,
            "tree": nodes,
            "histograms": histograms,
            "stats": {"parents": int(len(counts)), "children": int(counts.sum()),
                      "mean": float(counts.mean()), "zero_share": float((counts == 0).mean()),
                      "max": int(counts.max())},
        }
        self._hist = None
        logger.info("child-count model: %d parents, mean %.3f children, %d leaves",
                    len(counts), counts.mean(), len(leaves))
        return self

    def fit_private(self, counts: Any, epsilon: float, delta: float) -> "ChildCountModel":
        """Learn the counts with (epsilon, delta) differential privacy, the unit one child row
        (or one parent row): a child row moves its parent's count by one, so two buckets of
        :data:`PRIVATE_BUCKETS` change by one, and the total of children by one (L2 sensitivity
        sqrt 3 for the buckets and the total; a parent row: one bucket). Where no bucket stands out
        of the noise, Poisson counts at the noisy mean.
        One Gaussian mechanism, the noise from the operating system's entropy; no context, and
        the ``stats`` are those of the noisy histogram. ``state["privacy"]`` states it."""
        from synthohive_spark.privacy import dp as _dp

        counts = self._checked_counts(counts, "fit_private")
        budget = _dp.Budget(epsilon, delta)
        sigma = budget.noise_for()
        budget.spend(sigma)
        hist = _private_histogram(counts, sigma * math.sqrt(3.0), _dp.noise_rng())
        arr = np.asarray(hist, dtype="float64")
        mean = float((arr[:, 2] * (arr[:, 0] + arr[:, 1]) / 2).sum())
        self.state = {
            "version": STATE_VERSION,
            "hyper": {"max_leaves": self.max_leaves, "min_samples_leaf": self.min_samples_leaf,
                      "max_bins": self.max_bins, "max_categories": self.max_categories},
            "encoding": [],
            "tree": {"feature": [-2], "threshold": [-2.0], "left": [-1], "right": [-1]},
            "histograms": {"0": hist},
            "stats": {"mean": mean, "zero_share": float(arr[arr[:, 1] == 0, 2].sum()),
                      "max": int(arr[:, 1].max())},
            "privacy": _dp.privacy_statement(
                budget, covered=["the number of children per parent (a histogram over fixed "
                                 "buckets, Gaussian mechanism)"],
                not_covered=[], mechanism="Gaussian", noise_multiplier=round(sigma, 6),
                sensitivity="sqrt(3)", buckets=len(PRIVATE_BUCKETS)),
        }
        self._hist = None
        logger.info("child-count model: differentially private, noise multiplier %.3f, %d "
                    "buckets kept, mean %.3f", sigma, len(hist), mean)
        return self

    @property
    def privacy(self) -> Optional[dict[str, Any]]:
        """The DP statement of :meth:`fit_private`; None for a model fitted with :meth:`fit`."""
        self._require_fitted()
        return self.state.get("privacy")

    # -------------------------------------------------------------- sample
    @property
    def context_columns(self) -> list[str]:
        self._require_fitted()
        return [e["column"] for e in self.state["encoding"]]

    def _require_fitted(self) -> None:
        if self.state is None:
            raise CardinalityError("ChildCountModel is not fitted; call fit() or from_dict()")

    def _leaf_index(self, x: np.ndarray) -> np.ndarray:
        tree = self.state["tree"]
        feature = np.asarray(tree["feature"], dtype=np.int64)
        threshold = np.asarray(tree["threshold"], dtype="float64")
        left = np.asarray(tree["left"], dtype=np.int64)
        right = np.asarray(tree["right"], dtype=np.int64)
        node = np.zeros(len(x), dtype=np.int64)
        for _ in range(len(feature)):
            inner = left[node] != -1
            if not inner.any():
                break
            f = feature[node[inner]]
            go_left = x[np.flatnonzero(inner), f] <= threshold[node[inner]]
            node[inner] = np.where(go_left, left[node[inner]], right[node[inner]])
        return node

    def _hist_array(self) -> tuple[np.ndarray, np.ndarray]:
        if self._hist is None:
            hists = self.state["histograms"]
            width = max(len(h) for h in hists.values())
            arr = np.zeros((len(hists), width, 3), dtype="float64")
            pos = np.full(len(self.state["tree"]["feature"]), -1, dtype=np.int64)
            for i, (leaf, h) in enumerate(sorted(hists.items(), key=lambda kv: int(kv[0]))):
                arr[i, :len(h)] = np.asarray(h, dtype="float64")
                pos[int(leaf)] = i
            if (pos[np.asarray(self.state["tree"]["left"]) == -1] < 0).any():
                raise CardinalityError("child-count model state: a leaf of the tree has no "
                                       "count histogram")
            self._hist = arr
            self._hist_pos = pos
        return self._hist, self._hist_pos

    def sample(self, context: Optional[pd.DataFrame], seed: int, n: Optional[int] = None) -> np.ndarray:
        """One child count per context row (or ``n`` counts when there is no context)."""
        self._require_fitted()
        encoding = self.state["encoding"]
        if context is None:
            if encoding:
                raise CardinalityError(f"ChildCountModel.sample: the model needs the context "
                                       f"columns {self.context_columns}")
            if n is None:
                raise CardinalityError("ChildCountModel.sample: give a context or n")
            rows = int(n)
            leaf = np.zeros(rows, dtype=np.int64)
        else:
            rows = len(context)
            leaf = self._leaf_index(encode_context(context, encoding)) if encoding else \
                np.zeros(rows, dtype=np.int64)
        hist, pos = self._hist_array()
        idx = pos[leaf]
        rng = np.random.default_rng(seed)
        if rows == 0:
            return np.zeros(0, dtype=np.int64)
        return _draw(hist, idx, rng)

    # -------------------------------------------------------------- state
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON types."""
        self._require_fitted()
        return self.state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "ChildCountModel":
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise CardinalityError(
                f"child-count model state of version {state.get('version') if isinstance(state, dict) else None!r}; "
                f"this release reads version {STATE_VERSION}")
        for key in ("encoding", "tree", "histograms", "hyper"):
            if key not in state:
                raise CardinalityError(f"child-count model state lacks {key!r}")
        m = cls(**state["hyper"])
        m.state = state
        tree = state["tree"]
        n = len(tree["feature"])
        if any(len(tree[k]) != n for k in ("threshold", "left", "right")):
            raise CardinalityError("child-count model state: tree arrays differ in length")
        return m

"""Gaussian copula: empirical marginals + one correlation matrix of normal scores.

Every column becomes one or two variables: a numerical column a variable whose marginal is a table
of quantiles (plus a binary missing-value variable when it has missing values), a categorical column a
variable whose categories occupy consecutive intervals of [0, 1] (sized by frequency, ordered along
the direction in which the categories' means of the numerical scores differ most, so that "this
species weighs more" is a monotone dependence a correlation can hold). Values map to normal
scores through their marginal (randomized within ties), and a correlation matrix is fit on the
scores. The model is joint over context and data columns; sampling under a context draws the data
scores from the closed-form Gaussian conditional given the context's scores.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtr, ndtri

from synthohive_spark.models import _nn
from synthohive_spark.models.base import GenerativeModel
from synthohive_spark.transform import ColumnCodec, DataTransformer

_EPS = 1e-6


def _num_to_u(x: np.ndarray, q: np.ndarray, grid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    m = len(q)
    lo = np.searchsorted(q, x, "left")
    hi = np.searchsorted(q, x, "right")
    a = np.clip(lo - 1, 0, m - 1)
    b = np.clip(lo, 0, m - 1)
    denom = q[b] - q[a]
    frac = np.where(denom > 0, (x - q[a]) / np.where(denom > 0, denom, 1.0), 0.5)
    u_cont = grid[a] + frac * (grid[b] - grid[a])
    lo_t = np.clip(lo, 0, m - 1)
    hi_t = np.clip(hi - 1, 0, m - 1)
    u_tie = grid[lo_t] + rng.random(len(x)) * (grid[hi_t] - grid[lo_t])
    return np.where(hi > lo, u_tie, u_cont)


class GaussianCopula(GenerativeModel):
    """Fast model for small and medium tables. Hyperparameters: n_quantiles (points of each numerical
    marginal), seed, device (accepted for a uniform interface; the copula runs on CPU), column_specs,
    verbose."""

    name = "gaussian_copula"
    default_hyperparams: dict[str, Any] = {"n_quantiles": 1001}

    # ------------------------------------------------------------------ variables
    def _fit_transformers(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
        hp = self._hp
        self.transformer = DataTransformer(column_specs=hp.get("column_specs"), seed=hp["seed"], max_modes=1)
        self.transformer.fit(data, "data")
        self.context_transformer = None
        if context is not None:
            self.context_transformer = DataTransformer(column_specs=hp.get("column_specs"),
                                                       seed=hp["seed"] + 1, max_modes=1)
            self.context_transformer.fit(context, "context")
        self._setup()
        grid = self._grid
        qs = []
        for codec, source in self._num_codecs():
            frame = context if source == "context" else data
            vals = codec.numeric_values(frame[codec.name])
            vals = vals[~np.isnan(vals)]
            qs.append(np.quantile(vals, grid))
        self._quantiles = np.asarray(qs, dtype=np.float64).reshape(len(qs), len(grid))
        self._corr = None
        self._orders = {}

    def _codecs(self) -> list[tuple[ColumnCodec, str]]:
        out = []
        if self.context_transformer is not None:
            out += [(c, "context") for c in self.context_transformer.codecs]
        out += [(c, "data") for c in self.transformer.codecs]
        return out

    def _num_codecs(self) -> list[tuple[ColumnCodec, str]]:
        return [(c, s) for c, s in self._codecs() if c.kind == "numerical"]

    def _setup(self) -> None:
        """The variable list: (codec, source, role, numerical index) with role num|null|cat."""
        self._grid = np.linspace(0.0, 1.0, int(self._hp["n_quantiles"]))
        variables = []
        k = 0
        for codec, source in self._codecs():
            if codec.kind == "numerical":
                variables.append((codec, source, "num", k))
                if codec.has_null:
                    variables.append((codec, source, "null", k))
                k += 1
            elif codec.n_categories >= 2:
                variables.append((codec, source, "cat", -1))
        self._vars = variables
        self._ctx_idx = np.array([i for i, v in enumerate(variables) if v[1] == "context"], dtype=np.int64)
        self._data_idx = np.array([i for i, v in enumerate(variables) if v[1] == "data"], dtype=np.int64)

    def _order(self, codec: ColumnCodec, source: str) -> np.ndarray:
        """Category codes (the missing-value code last) in the order of their intervals."""
        order = getattr(self, "_orders", {}).get(f"{source}/{codec.name}")
        return order if order is not None else np.arange(codec.n_categories)

    def _cat_cum(self, codec: ColumnCodec, source: str) -> np.ndarray:
        freqs = np.asarray(list(codec.frequencies) + ([codec.null_count] if codec.has_null else []), float)
        freqs = freqs[self._order(codec, source)]
        return np.cumsum(freqs / freqs.sum())

    def _fit_orders(self, frames: dict[str, pd.DataFrame], rng: np.random.Generator) -> None:
        """Order each categorical variable's intervals along the leading direction of its
        categories' mean numerical scores (weighted by frequency); without numerical variables,
        or with two categories, the frequency order stays."""
        self._orders = {}
        nums = [i for i, v in enumerate(self._vars) if v[2] == "num"]
        if not nums:
            return
        z = np.nan_to_num(self._scores(frames, np.array(nums, dtype=np.int64), rng))
        _, world = _nn.dist_world()
        for codec, source, role, _ in self._vars:
            if role != "cat" or codec.n_categories < 3:
                continue
            codes = codec.codes(frames[source][codec.name])
            k = codec.n_categories
            ok = codes >= 0
            counts = np.bincount(codes[ok], minlength=k).astype(float)
            sums = np.zeros((k, z.shape[1]))
            np.add.at(sums, codes[ok], z[ok])
            if world > 1:  # every process orders from the same totals
                import torch.distributed as dist

                t = torch.from_numpy(np.concatenate([sums.reshape(-1), counts]))
                dist.all_reduce(t)
                arr = t.numpy()
                sums, counts = arr[:-k].reshape(k, -1), arr[-k:]
            means = sums / np.maximum(counts, 1.0)[:, None]
            w = counts / max(counts.sum(), 1.0)
            between = (means * w[:, None]).T @ means
            if not np.isfinite(between).all() or np.allclose(between, 0):
                continue
            vals, vecs = np.linalg.eigh(between)
            direction = vecs[:, -1]
            if direction.sum() < 0:
                direction = -direction
            self._orders[f"{source}/{codec.name}"] = np.argsort(means @ direction, kind="stable")

    def _scores(self, frames: dict[str, pd.DataFrame], which: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Normal scores of the variables ``which`` for the rows of ``frames``."""
        n = len(next(iter(frames.values())))
        z = np.empty((n, len(which)), dtype=np.float64)
        for j, i in enumerate(which):
            codec, source, role, k = self._vars[i]
            series = frames[source][codec.name]
            if role == "num":
                vals = codec.numeric_values(series)
                null = np.isnan(vals)
                u = _num_to_u(np.where(null, 0.0, vals), self._quantiles[k], self._grid, rng)
                u = np.where(null, rng.random(n), u)
            elif role == "null":
                null = np.isnan(codec.numeric_values(series))
                p_present = 1.0 - codec.null_count / max(codec.count, 1)
                v = rng.random(n)
                u = np.where(null, p_present + v * (1 - p_present), v * p_present)
            else:
                cum = self._cat_cum(codec, source)
                codes = codec.codes(series)
                known = codes >= 0
                order = self._order(codec, source)
                position = np.empty(len(order), dtype=np.int64)
                position[order] = np.arange(len(order))
                c = np.where(known, position[np.where(known, codes, 0)], 0)
                left = np.where(c > 0, cum[np.maximum(c - 1, 0)], 0.0)
                u = left + rng.random(n) * (cum[c] - left)
                u = np.where(known, u, 0.5)
            z[:, j] = ndtri(np.clip(u, _EPS, 1 - _EPS))
        return z

    # ------------------------------------------------------------------ train
    def _train(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
        rank, world = _nn.dist_world()
        rng = np.random.default_rng([int(self._hp["seed"]), rank])
        frames = {"data": data.reset_index(drop=True)}
        if context is not None:
            frames["context"] = context
        p = len(self._vars)
        self._fit_orders(frames, rng)
        z = self._scores(frames, np.arange(p), rng)
        s = z.T @ z
        n = float(len(z))
        if world > 1:
            import torch.distributed as dist

            t = torch.from_numpy(np.concatenate([s.reshape(-1), [n]]))
            dist.all_reduce(t)
            arr = t.numpy()
            s, n = arr[:-1].reshape(p, p), float(arr[-1])
        cov = s / max(n, 1.0)
        d = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
        corr = cov / np.outer(d, d) if p else cov
        self._corr = self._nearest_pd(corr)
        self.logger.info("fit a Gaussian copula over %d variables on %d rows", p, int(n))

    @staticmethod
    def _nearest_pd(corr: np.ndarray) -> np.ndarray:
        if corr.size == 0:
            return corr
        corr = (corr + corr.T) / 2
        w, v = np.linalg.eigh(corr)
        w = np.clip(w, 1e-6, None)
        c = (v * w) @ v.T
        d = np.sqrt(np.diag(c))
        c = c / np.outer(d, d)
        np.fill_diagonal(c, 1.0)
        return c

    # ------------------------------------------------------------------ sample
    def _sample(self, n: int, context: pd.DataFrame | None, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        B, A = self._data_idx, self._ctx_idx
        sig = self._corr
        eps = rng.standard_normal((n, len(B)))
        if context is not None and len(A):
            z_a = self._scores({"context": context}, A, rng)
            s_aa = sig[np.ix_(A, A)]
            s_ab = sig[np.ix_(A, B)]
            coef = np.linalg.solve(s_aa, s_ab)
            cov = sig[np.ix_(B, B)] - s_ab.T @ coef
            mean = z_a @ coef
        else:
            cov = sig[np.ix_(B, B)]
            mean = 0.0
        if len(B):
            cov = (cov + cov.T) / 2 + 1e-9 * np.eye(len(B))
            w, v = np.linalg.eigh(cov)
            root = v * np.sqrt(np.clip(w, 0, None))
            z_b = mean + eps @ root.T
        else:
            z_b = np.zeros((n, 0))
        u_all = ndtr(z_b)
        col_of = {int(i): j for j, i in enumerate(B)}
        index = pd.RangeIndex(n)
        values: dict[str, np.ndarray] = {}
        nulls: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for i in B:
            codec, _, role, k = self._vars[i]
            u = u_all[:, col_of[int(i)]]
            if role == "num":
                values[codec.name] = np.interp(u, self._grid, self._quantiles[k])
            elif role == "null":
                nulls[codec.name] = u > 1.0 - codec.null_count / max(codec.count, 1)
            else:
                cum = self._cat_cum(codec, "data")
                position = np.minimum(np.searchsorted(cum, u, "right"), len(cum) - 1)
                codes[codec.name] = self._order(codec, "data")[position]
        cols: dict[str, pd.Series] = {}
        for codec in self.transformer.codecs:
            if codec.kind == "numerical":
                cols[codec.name] = codec.from_numeric(values[codec.name], nulls.get(codec.name), index=index)
            else:
                c = codes.get(codec.name)
                if c is None:  # constant or all-missing column
                    c = np.zeros(n, dtype=np.int64) if codec.categories else np.full(n, -1, dtype=np.int64)
                cols[codec.name] = codec.from_codes(c, index=index)
        return pd.DataFrame(cols, index=index)

    # ------------------------------------------------------------------ state
    def _tensors(self) -> dict[str, torch.Tensor]:
        t = {"quantiles": torch.from_numpy(np.ascontiguousarray(self._quantiles))}
        if self._corr is not None:
            t["correlation"] = torch.from_numpy(np.ascontiguousarray(self._corr))
        for key, order in getattr(self, "_orders", {}).items():
            t["order/" + key] = torch.from_numpy(np.ascontiguousarray(order.astype(np.int64)))
        return t

    def _load_tensors(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self._setup()
        self._quantiles = tensors["quantiles"].numpy().astype(np.float64)
        corr = tensors.get("correlation")
        self._corr = corr.numpy().astype(np.float64) if corr is not None else None
        # models saved before the orders were learned keep the frequency order
        self._orders = {k[len("order/"):]: v.numpy().astype(np.int64)
                        for k, v in tensors.items() if k.startswith("order/")}
        expected = len(self._vars)
        if self._corr is not None and self._corr.shape != (expected, expected):
            raise KeyError(f"correlation matrix of shape {tuple(self._corr.shape)} does not match the "
                           f"{expected} copula variables")

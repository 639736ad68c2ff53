"""Foreign keys that are not the driver: secondary parents and self-references (numpy only).

:class:`DegreeModel` learns how references spread over the parents of one foreign key: the real
parents' degrees (children per parent, zeros included) sorted from the most to the least referenced
and summarised as the share of references falling in each of ``bins`` equal slices of the
normalised rank axis, plus the share of null references. At sample time a child picks a rank with
those shares (uniform inside a slice) and the rank is mapped to a generated parent's position by a
seeded bijection, so popular parents stay popular and unreferenced ones stay unreferenced, whatever
the number of generated parents. Where the child table's size is known, the references are dealt
rather than drawn (:meth:`DegreeModel.deal_parents`): each row takes one stratum of the
popularity axis, so every parent gets its share to within one reference instead of its share plus
multinomial noise. Everything is vectorised and depends only on the seed and the row's position,
so a recomputed partition draws the same keys.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from synthohive_spark.errors import DegreeModelError

logger = logging.getLogger("synthohive_spark.relational.keys")

__all__ = ["DegreeModel", "rank_to_index", "DegreeModelError"]

STATE_VERSION = 1
#: mixed into the seed of :meth:`DegreeModel.deal_parents`' strata, so that they are not
#: the same bijection as its ranks' (a table's self-reference has as many parents as rows)
_STRATA = 0x57A7A


#: The name this error had before :mod:`synthohive_spark.errors` (kept for code that catches it).
KeyError_ = DegreeModelError


class DegreeModel:
    """Distribution of references over the parents of one foreign key.

    >>> import numpy as np
    >>> parents = np.arange(100)
    >>> refs = np.concatenate([np.zeros(50, int), np.arange(100)])  # parent 0 is very popular
    >>> m = DegreeModel().fit(refs, n_parents=100, n_nulls=0)
    >>> idx = m.sample_parents(np.random.default_rng(0), 1000, n_parents=100, seed=1)
    >>> bool(np.bincount(idx, minlength=100).max() > 40)
    True
    """

    def __init__(self, bins: int = 200) -> None:
        if bins < 1:
            raise DegreeModelError(f"DegreeModel: bins must be >= 1, got {bins}")
        self.bins = int(bins)
        self.state: Optional[dict[str, Any]] = None

    def fit(self, parent_positions: np.ndarray, n_parents: int, n_nulls: int) -> "DegreeModel":
        """Learn from the parent position (0..n_parents-1) of every non-null reference and the
        number of null references."""
        pos = np.asarray(parent_positions, dtype=np.int64)
        if n_parents < 1:
            raise DegreeModelError("DegreeModel.fit: the parent table has no rows")
        if len(pos) and (pos.min() < 0 or pos.max() >= n_parents):
            raise DegreeModelError("DegreeModel.fit: a reference points outside the parent table")
        degrees = np.bincount(pos, minlength=n_parents).astype("float64")
        return self.fit_degrees(degrees, n_nulls)

    def fit_degrees(self, degrees: np.ndarray, n_nulls: int, ordered: bool = False) -> "DegreeModel":
        """Learn from every parent's degree (zeros included). ``ordered``: keep the given parent
        order as the rank axis (self-references, where earlier rows are the referenced ones)
        instead of sorting by popularity."""
        degrees = np.asarray(degrees, dtype="float64")
        if degrees.ndim != 1 or len(degrees) == 0:
            raise DegreeModelError("DegreeModel.fit: expected one degree per parent")
        total = float(degrees.sum())
        ranked = degrees if ordered else np.sort(degrees)[::-1]
        bins = min(self.bins, len(ranked))
        edges = np.linspace(0, len(ranked), bins + 1)
        cum = np.concatenate([[0.0], np.cumsum(ranked)])
        # mass of each slice of the rank axis (fractional ranks interpolate the cumulative sum)
        at = np.interp(edges, np.arange(len(ranked) + 1), cum)
        mass = np.diff(at)
        mass = mass / total if total > 0 else np.full(bins, 1.0 / bins)
        refs = int(total)
        self.state = {"version": STATE_VERSION, "mass": [float(v) for v in mass],
                      "null_share": float(n_nulls) / max(1, refs + int(n_nulls)),
                      "ordered": bool(ordered), "parents": int(len(ranked)), "references": refs,
                      "max_degree": float(ranked.max()) if len(ranked) else 0.0}
        return self

    def fit_runs(self, degrees: Any, multiplicities: Any, n_nulls: int,
                 epsilon: Optional[float] = None, delta: Optional[float] = None
                 ) -> "DegreeModel":
        """Learn from a degree histogram: ``multiplicities[i]`` parents have ``degrees[i]``
        children (zeros included). Small whatever the number of parents: computed in Spark as a
        group-by of the degrees. With ``epsilon``, (epsilon, delta)-differentially private
        (:meth:`_set_private`; ``state["privacy"]`` states it)."""
        d = np.asarray(degrees, dtype="float64")
        m = np.asarray(multiplicities, dtype="float64")
        if d.shape != m.shape or d.ndim != 1 or len(d) == 0 or (m < 0).any() or m.sum() <= 0:
            raise DegreeModelError("DegreeModel.fit_runs: expected matching, non-empty degree and "
                            "multiplicity arrays")
        order = np.argsort(-d, kind="stable")
        d, m = d[order], m[order]
        n_parents = float(m.sum())
        knots = np.concatenate([[0.0], np.cumsum(m)])
        cum = np.concatenate([[0.0], np.cumsum(d * m)])
        total = float(cum[-1])
        bins = int(min(self.bins, n_parents))
        edges = np.linspace(0.0, n_parents, bins + 1)
        at = np.interp(edges, knots, cum)  # exact: the degree is constant inside a run
        mass = np.diff(at)
        if epsilon is not None:
            return self._set_private(mass, n_nulls, int(n_parents), epsilon, delta)
        mass = mass / total if total > 0 else np.full(bins, 1.0 / bins)
        return self._set_state(mass, n_nulls, int(round(total)), int(n_parents), False,
                               float(d.max()))

    def _set_private(self, mass: np.ndarray, n_nulls: int, parents: int, epsilon: float,
                     delta: Optional[float]) -> "DegreeModel":
        """The state from the references per slice of the popularity axis and the null
        references, released with Gaussian noise. The unit is one child row: a reference adds one
        to one parent's degree, which moves one place of the sorted degrees by one, so at most
        two slices (the place straddling their edge) by one together; a null reference adds one
        to the nulls: L2 sensitivity 1 for the whole vector."""
        from synthohive_spark.privacy import dp as _dp

        budget = _dp.Budget(epsilon, delta if delta else _dp.default_delta(parents))
        sigma = budget.noise_for()
        budget.spend(sigma)
        rng = _dp.noise_rng()
        noisy = np.clip(mass + rng.normal(0.0, sigma, len(mass)), 0.0, None)
        nulls = max(0.0, float(n_nulls) + float(rng.normal(0.0, sigma)))
        total = float(noisy.sum())
        norm = noisy / total if total > 0 else np.full(len(noisy), 1.0 / len(noisy))
        self._set_state(norm, int(round(nulls)), int(round(total)), parents, False, None)
        self.state["privacy"] = _dp.privacy_statement(
            budget, covered=["references per parent (the popularity curve over fixed slices and "
                             "the null references, Gaussian mechanism)"],
            not_covered=["the number of parents (the parent table's size)"],
            mechanism="Gaussian", noise_multiplier=round(sigma, 6), sensitivity="1")
        return self

    def fit_bin_mass(self, mass: Any, n_parents: int, n_nulls: int,
                     ordered: bool = True) -> "DegreeModel":
        """Learn from the references falling in each equal slice of the parents' rank axis
        (computed in Spark)."""
        mass = np.asarray(mass, dtype="float64")
        if mass.ndim != 1 or len(mass) == 0 or (mass < 0).any():
            raise DegreeModelError("DegreeModel.fit_bin_mass: expected non-negative masses per slice")
        total = float(mass.sum())
        norm = mass / total if total > 0 else np.full(len(mass), 1.0 / len(mass))
        return self._set_state(norm, n_nulls, int(round(total)), int(n_parents), ordered, None)

    def _set_state(self, mass: np.ndarray, n_nulls: int, refs: int, parents: int, ordered: bool,
                   max_degree: Optional[float]) -> "DegreeModel":
        self.state = {"version": STATE_VERSION, "mass": [float(v) for v in mass],
                      "null_share": float(n_nulls) / max(1, refs + int(n_nulls)),
                      "ordered": bool(ordered), "parents": int(parents), "references": int(refs),
                      "max_degree": max_degree}
        return self

    @property
    def privacy(self) -> Optional[dict[str, Any]]:
        """The DP statement of a fit with epsilon; None otherwise."""
        self._require()
        return self.state.get("privacy")

    @property
    def null_share(self) -> float:
        self._require()
        return float(self.state["null_share"])

    def _require(self) -> None:
        if self.state is None:
            raise DegreeModelError("DegreeModel is not fitted")

    def _cdf(self, n_parents: int) -> tuple[np.ndarray, np.ndarray]:
        """Piecewise-linear cumulative reference mass over ranks 0..n_parents."""
        mass = np.asarray(self.state["mass"], dtype="float64")
        knots = np.linspace(0.0, float(n_parents), len(mass) + 1)
        cum = np.concatenate([[0.0], np.cumsum(mass)])
        cum[-1] = max(cum[-1], 1e-300)
        return knots, cum

    def sample_ranks(self, rng: np.random.Generator, n: int, n_parents: int,
                     limit: Optional[np.ndarray] = None) -> np.ndarray:
        """``n`` parent ranks in ``[0, n_parents)`` (or ``[0, limit_i)`` per row); -1 where a row
        has nothing to point at (limit 0)."""
        return self.ranks_at(rng.random(n), n_parents, limit)

    def ranks_at(self, u: np.ndarray, n_parents: int,
                 limit: Optional[np.ndarray] = None) -> np.ndarray:
        """The parent ranks at quantiles ``u`` in [0, 1) of the reference mass (of the mass below
        ``limit_i`` per row; -1 where a row has nothing to point at, limit 0)."""
        self._require()
        if n_parents < 1:
            raise DegreeModelError("DegreeModel.sample: no generated parents to point at")
        knots, cum = self._cdf(n_parents)
        n = len(u)
        if limit is None:
            top = np.full(n, cum[-1])
        else:
            top = np.interp(np.minimum(np.asarray(limit, dtype="float64"), n_parents), knots, cum)
        target = u * top
        # invert the piecewise-linear CDF: ranks where the mass is zero are never chosen
        j = np.searchsorted(cum, target, side="right") - 1
        j = np.clip(j, 0, len(cum) - 2)
        seg = cum[j + 1] - cum[j]
        frac = np.where(seg > 0, (target - cum[j]) / np.where(seg > 0, seg, 1.0), 0.0)
        r = np.floor(knots[j] + frac * (knots[j + 1] - knots[j])).astype(np.int64)
        r = np.clip(r, 0, n_parents - 1)
        if limit is not None:
            lim = np.asarray(limit, dtype=np.int64)
            r = np.where(lim > 0, np.minimum(r, np.maximum(lim - 1, 0)), -1)
        return r

    def sample_parents(self, rng: np.random.Generator, n: int, n_parents: int, seed: int,
                       limit: Optional[np.ndarray] = None) -> np.ndarray:
        """Parent positions for ``n`` references (ranks mapped through a seeded bijection unless
        the rank axis is the parents' own order)."""
        ranks = self.sample_ranks(rng, n, n_parents, limit)
        if self.state["ordered"]:
            return ranks
        out = rank_to_index(np.maximum(ranks, 0), n_parents, seed)
        return np.where(ranks < 0, -1, out)

    def deal_parents(self, positions: np.ndarray, total: int, n_parents: int,
                     seed: int) -> np.ndarray:
        """Parent positions for the rows at ``positions`` of a table of ``total`` rows, -1 where
        the reference is null: the references dealt rather than drawn. The row at position ``p``
        takes stratum ``q`` of ``total`` equal strata of the reference mass (``q`` = a seeded
        bijection of ``p``); the first strata are the null share, the others are ranked by
        popularity, and ranks go to parents as :meth:`sample_parents` maps them with ``seed``.
        So each parent gets its share of the references to within one, and the nulls theirs,
        where independent draws would add multinomial noise (200 products over 5,000 order
        lines: about 5 lines more or less per product); which row gets which parent is as random
        as a draw, and a row depends only on the seed and its position."""
        self._require()
        total = int(total)
        pos = np.asarray(positions, dtype=np.int64)
        if total < 1 or (len(pos) and (pos.min() < 0 or pos.max() >= total)):
            raise DegreeModelError(f"DegreeModel.deal_parents: positions must lie in [0, {total})")
        v = (rank_to_index(pos, total, int(seed) ^ _STRATA) + 0.5) / total
        null_share = self.null_share
        null = v < null_share
        u = np.clip((v - null_share) / max(1.0 - null_share, 1e-300), 0.0, np.nextafter(1.0, 0.0))
        ranks = self.ranks_at(u, n_parents)
        # ranks to parents as sample_parents maps them with the same seed (a redraw agrees)
        out = ranks if self.state["ordered"] else rank_to_index(ranks, n_parents, seed)
        return np.where(null, -1, out)

    def null_mask(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.random(n) < self.null_share

    def to_dict(self) -> dict[str, Any]:
        self._require()
        return dict(self.state, bins=self.bins)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "DegreeModel":
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise DegreeModelError(f"degree model state has an unknown version; this release reads "
                            f"version {STATE_VERSION}")
        m = cls(bins=int(state.get("bins", 200)))
        m.state = {k: v for k, v in state.items() if k != "bins"}
        return m


def rank_to_index(ranks: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded pseudo-random bijection of ``[0, n)`` (vectorised, any ``n`` below 2**64): a
    four-round Feistel network over the fewest even number of bits that cover ``n``, each round
    a keyed splitmix64 mix of one half, with values that land past ``n - 1`` sent through the
    network again (cycle walking: a bijection of ``[0, n)`` since the network is one of the
    larger domain). Neighbouring inputs map to unrelated outputs."""
    r = np.asarray(ranks, dtype=np.int64)
    if n <= 1:
        return np.zeros_like(r)
    bits = max(2, int(n - 1).bit_length())
    bits += bits % 2
    half = np.uint64(bits // 2)
    mask = np.uint64((1 << (bits // 2)) - 1)
    keys = np.random.default_rng([int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF,
                                 n & 0xFFFFFFFF, (n >> 32) & 0xFFFFFFFF, 0x5EED]
                                ).integers(0, 1 << 63, 4, dtype=np.int64).astype(np.uint64)

    def network(x: np.ndarray) -> np.ndarray:
        left, right = x >> half, x & mask
        for k in keys:
            z = (right ^ k) * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            left, right = right, left ^ ((z ^ (z >> np.uint64(31))) & mask)
        return (left << half) | right

    x = r.astype(np.uint64)
    limit = np.uint64(n)
    out = network(x)
    walk = np.flatnonzero(out >= limit)
    while len(walk):
        out[walk] = network(out[walk])
        walk = walk[out[walk] >= limit]
    return out.astype(np.int64)

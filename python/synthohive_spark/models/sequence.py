"""SequenceModel: the rows of one parent generated as a sequence (a storm's track, a country's
years, a customer's invoices in date order).

Each row is drawn column by column from a network that sees the parent (its encoded columns: the
context), the sequence so far (a GRU over the previous rows) and the columns of the same row drawn
before it (numbers first, then categories, so a status follows the wind drawn in its row). A
numeric column is learned as quantile bins twice over: of its value (the first row of a sequence,
or after a missing value) and of its change from the previous row (every other row), so times step
as they step in the real data, positions move smoothly and values evolve; point masses (a change
of exactly 0, a six-hour step) are bins of their own. Strictly positive columns that span orders
of magnitude (a population) are learned on a log scale, their changes as growth rates. A
timestamp drawn as a value takes its day from its bin and its time of day from the real times of
day of the values drawn so (first rows: a storm's track starts at a synoptic hour), and the network
sees each timestamp's time of day (four harmonics of the day), so that a track returns to its
hours after an observation between them. A category is learned as itself, under its previous
value.

The number of rows per parent is given (``sample(groups=...)``: the cardinality model's skeleton)
and the network sees it (length and rows left), or, with :meth:`sample_sequences`, it is drawn by
the model itself from an end-of-sequence output: a quarter of the training sequences are shown
without their length, so one model does both.

Training rows come grouped: ``fit(data, context, groups=...)`` with the rows of one group
consecutive and in sequence order; the context is the parent's, the same on every row of a group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthohive_spark.models import _nn
from synthohive_spark.models._optim import FlatAdam
from synthohive_spark.models.base import GenerativeModel
from synthohive_spark.transform.columns import units_per_day

_LOG_SPAN = 1000.0  # a positive column whose 99th/1st percentiles differ by this is learned on a log scale
_POS_FEATURES = 6
_DECAYS = (0.5, 0.9)
#: a time of day is seen as these harmonics of the day on a circle: once a day, twice (12 h), three
#: and four times (8 h, 6 h: synoptic hours, shifts); a rhythm within the day is a smooth function
#: of them, where the day's circle alone would need a sharp one
_TOD_HARMONICS = (1, 2, 3, 4)
#: optimizer steps an ``epochs=None`` fit aims at (small tables need many epochs, large ones few)
TARGET_STEPS = 3000
#: optimizer steps without a better training loss that stop an ``early_stopping_patience="auto"``
#: fit (at least 8 epochs): counted in epochs, a small table (gapminder: 4 steps an epoch) stopped
#: after a few dozen steps, long before it had learned its sequences' rules
PATIENCE_STEPS = 320
_NEIGHBOURS = tuple((o, w / 12.0) for o, w in ((-3, 1), (-2, 2), (-1, 3), (1, 3), (2, 2), (3, 1)))  # the forgetting rates of the two averages of the rows before


# --------------------------------------------------------------------------- bins
def _bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """(k, 2) bin bounds covering ``values``: a value holding over 1/n_bins of them is a point bin
    of its own (lo == hi); the rest are quantile bins."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.zeros((1, 2))
    uniq, counts = np.unique(values, return_counts=True)
    atoms = uniq[counts > max(1, len(values) / n_bins)]
    rest = values[~np.isin(values, atoms)]
    out = [(a, a) for a in atoms.tolist()]
    if len(rest):
        k = max(1, min(n_bins - len(atoms), len(np.unique(rest))))
        edges = np.unique(np.quantile(rest, np.linspace(0, 1, k + 1)))
        if len(edges) == 1:
            out.append((float(edges[0]), float(edges[0])))
        else:
            out += list(zip(edges[:-1].tolist(), edges[1:].tolist()))
    out.sort(key=lambda b: (b[0], b[1]))
    return np.asarray(out, dtype=np.float64)


def _assign(bins: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each finite value: its point bin, else the continuous bin it falls in (nearest)."""
    lo, hi = bins[:, 0], bins[:, 1]
    out = np.zeros(len(values), dtype=np.int64)
    point = lo == hi
    cont = np.flatnonzero(~point)
    rest = np.ones(len(values), dtype=bool)
    if point.any():
        pidx = np.flatnonzero(point)
        pos = np.searchsorted(lo[pidx], values)
        pos = np.clip(pos, 0, len(pidx) - 1)
        hit = lo[pidx][pos] == values
        out[hit] = pidx[pos[hit]]
        rest &= ~hit
    if len(cont):
        pos = np.searchsorted(hi[cont], values[rest], side="left")
        out[rest] = cont[np.clip(pos, 0, len(cont) - 1)]
    elif rest.any():  # only point bins: the nearest one
        out[rest] = np.abs(lo[None, :] - values[rest][:, None]).argmin(axis=1)
    return out


@dataclass
class _Column:
    """How one data column is tokenized (JSON-able through ``to_dict``)."""

    name: str
    kind: str                 # "num" | "cat"
    vocab: int
    log: bool = False
    mean: float = 0.0
    std: float = 1.0
    dmean: float = 0.0
    dstd: float = 1.0
    zmin: float = 0.0
    zmax: float = 0.0
    abs_bins: Any = None      # (A, 2) array
    delta_bins: Any = None    # (D, 2) array
    has_null: bool = False
    # a timestamp with times of day: a day's length in the column's units, where the values'
    # days start (the offset's time of day), and the times of day as (T, 3) bins (low, high,
    # share of the values); a value drawn (not a change) takes its time of day from them
    day: float = 0.0
    day_shift: float = 0.0
    tod_bins: Any = None
    # the network sees the time of day of each value (sin and cos of each of _TOD_HARMONICS
    # beside the value's three features), so a track after an odd step returns to its hours;
    # a model saved before has none
    tod_features: bool = False

    @property
    def width(self) -> int:
        """The numeric features of one value (:meth:`SequenceModel._num_parts`)."""
        return 3 + 2 * len(_TOD_HARMONICS) if self.tod_features else 3

    def time_of_day(self, z: np.ndarray) -> np.ndarray:
        """Each value's time of day, in the column's units (a timestamp with ``tod_bins``)."""
        return np.mod(z + self.day_shift, self.day)

    @property
    def n_abs(self) -> int:
        return len(self.abs_bins)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("name", "kind", "vocab", "log", "mean", "std", "dmean",
                                           "dstd", "zmin", "zmax", "has_null")}
        if self.kind == "num":
            d["abs_bins"] = self.abs_bins.tolist()
            d["delta_bins"] = self.delta_bins.tolist()
        if self.tod_bins is not None:
            d.update(day=self.day, day_shift=self.day_shift, tod_bins=self.tod_bins.tolist(),
                     tod_features=self.tod_features)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "_Column":
        col = cls(**{k: v for k, v in d.items() if k not in ("abs_bins", "delta_bins", "tod_bins")})
        if col.kind == "num":
            col.abs_bins = np.asarray(d["abs_bins"], dtype=np.float64).reshape(-1, 2)
            col.delta_bins = np.asarray(d["delta_bins"], dtype=np.float64).reshape(-1, 2)
        if d.get("tod_bins") is not None:  # (a model saved before has none)
            col.tod_bins = np.asarray(d["tod_bins"], dtype=np.float64).reshape(-1, 3)
        return col


# --------------------------------------------------------------------------- network
@dataclass
class _Fast:
    body_step: torch.Tensor   # the body's first layer on (history, position), transposed
    body_ctx: torch.Tensor    # ... on the context
    body_b: torch.Tensor
    body2_t: torch.Tensor     # the body's second layer, transposed
    body2_b: torch.Tensor
    w1_step: torch.Tensor     # every head's first layer on (body output, position), transposed
    w1_ctx: torch.Tensor      # ... on the context
    b1: torch.Tensor
    w1_feat: list             # per head: its first layer on the row's earlier columns, transposed
    w2: list
    b2: list

    def per_sequence(self, cvec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The parts of the body's and the heads' first layers that read the context (with their
        biases): the same at every step of a sequence, so computed once per sequence."""
        return (torch.addmm(self.body_b, cvec, self.body_ctx),
                torch.addmm(self.b1, cvec, self.w1_ctx))


class _Net(nn.Module):
    def __init__(self, cols: list[_Column], ctx_layout: _nn.Layout | None, hidden: int, cap: int) -> None:
        super().__init__()
        self.cols = cols
        self.hidden = hidden
        self.ctx = _nn.FeatureEmbedder(ctx_layout, cap) if ctx_layout is not None else None
        ctx_in = self.ctx.out_dim if self.ctx is not None else 0
        self.ctx_proj = nn.Linear(ctx_in, hidden) if ctx_in else None
        self.ctx_bias = nn.Parameter(torch.zeros(hidden))
        self.embeds = nn.ModuleDict()
        widths = []
        for c in cols:
            if c.kind == "cat":
                d = _nn.category_embedding_dim(c.vocab, cap)
                self.embeds[c.name] = nn.Embedding(c.vocab + 1, d)  # + "no previous row"
                widths.append(d)
            else:
                widths.append(c.width)  # value, missing, change (standardized)[, time of day]
        self.widths = widths
        # per numeric column: which value bins are ranges (smoothed in the loss), not points
        self.spread = [torch.as_tensor(c.abs_bins[:, 0] < c.abs_bins[:, 1]) if c.kind == "num"
                       else None for c in cols]
        self.feat_dim = sum(widths)
        # the sequence so far: the previous row and averages of all rows before it that forget
        # at two rates (a recurrence that trains in parallel: see ``history``)
        self.body = nn.Sequential(
            nn.Linear((1 + len(_DECAYS)) * self.feat_dim + _POS_FEATURES + hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU())
        in_dim = 2 * hidden + _POS_FEATURES + self.feat_dim
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, c.vocab + 1))
            for c in cols)  # + end of sequence on the first head's extra output (see stop_logit)
        starts = np.cumsum([0] + widths)
        self.starts = [int(x) for x in starts[:-1]]
        masks = torch.zeros(len(cols), self.feat_dim)
        for j in range(len(cols)):
            masks[j, :starts[j]] = 1.0
        self.register_buffer("prefix_masks", masks, persistent=False)

    def context(self, c: torch.Tensor | None, n: int) -> torch.Tensor:
        if self.ctx is None or c is None:
            return torch.relu(self.ctx_bias).expand(n, -1)
        return torch.relu(self.ctx_proj(self.ctx(c)) + self.ctx_bias)

    def features(self, nums: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        """Row features from (..., n_num, P) numeric parts (the first ``width`` of each column's
        P) and (..., n_cat) codes (vocab = none)."""
        parts, i, k = [], 0, 0
        for c in self.cols:
            if c.kind == "num":
                parts.append(nums[..., i, :c.width])
                i += 1
            else:
                parts.append(self.embeds[c.name](cats[..., k]))
                k += 1
        return torch.cat(parts, dim=-1)

    def inference_weights(self) -> "_Fast":
        """The weights arranged for step-by-step sampling: the heads' first layers' parts that read
        the shared input stacked into one matrix, the parts that read the row's earlier columns
        per head; the parts of the body's and the heads' first layers that read the context apart
        from those that read the step (see :meth:`_Fast.per_sequence`)."""
        hid, base_dim = self.hidden, 2 * self.hidden + _POS_FEATURES
        first = [h[0] for h in self.heads]
        w1 = torch.cat([f.weight[:, :base_dim] for f in first])  # head_input: h, context, position
        b_in = self.body[0].weight                                # body_input: history, position, context
        step_in = b_in.shape[1] - hid
        return _Fast(body_step=b_in[:, :step_in].t().contiguous(),
                     body_ctx=b_in[:, step_in:].t().contiguous(), body_b=self.body[0].bias,
                     body2_t=self.body[2].weight.t().contiguous(), body2_b=self.body[2].bias,
                     w1_step=torch.cat([w1[:, :hid], w1[:, 2 * hid:]], dim=1).t().contiguous(),
                     w1_ctx=w1[:, hid:2 * hid].t().contiguous(),
                     b1=torch.cat([f.bias for f in first]),
                     w1_feat=[f.weight[:, base_dim:base_dim + lo].t().contiguous()
                              for f, lo in zip(first, self.starts)],
                     w2=[h[2].weight for h in self.heads], b2=[h[2].bias for h in self.heads])

    def history(self, feats: torch.Tensor) -> torch.Tensor:
        """(b, t, F) row features -> (b, t, (1 + decays) F): at step t the previous row's features
        and, per decay a, sum over s < t of (1 - a) a^(t-1-s) x_s (zero at t = 0)."""
        t = feats.shape[1]
        prev = torch.cat([torch.zeros_like(feats[:, :1]), feats[:, :-1]], dim=1)
        steps = torch.arange(t, dtype=feats.dtype, device=feats.device)
        lag = steps[:, None] - 1 - steps[None, :]               # t - 1 - s
        parts = [prev]
        for a in _DECAYS:
            w = torch.where(lag >= 0, (1 - a) * a ** lag.clamp_min(0), torch.zeros_like(lag))
            parts.append(torch.matmul(w, feats))
        return torch.cat(parts, dim=-1)

    def next_history(self, hist: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """One step of :meth:`history`: the history after a row with ``feats``, from the one
        before it (``hist``: the previous row, then one average per decay)."""
        fd = self.feat_dim
        parts = [feats] + [a * hist[:, (q + 1) * fd:(q + 2) * fd] + (1 - a) * feats
                           for q, a in enumerate(_DECAYS)]
        return torch.cat(parts, dim=1)

    # the two inputs' layouts: :meth:`inference_weights` splits the first layers' weights by them
    def body_input(self, hist: torch.Tensor, pos: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return torch.cat([hist, pos, ctx], dim=-1)

    def head_input(self, h: torch.Tensor, ctx: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return torch.cat([h, ctx, pos], dim=-1)


def _clip_(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` clipped to [lo, hi] in place (NaN stays NaN); np.clip's wrapper costs more than the
    clip on a step's rows."""
    np.maximum(x, lo, out=x)
    return np.minimum(x, hi, out=x)


def _pos_features(t: np.ndarray, n: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Position features: log(1 + t), first row, and (when the length is known) log(1 + length),
    log(1 + rows left), last row, known."""
    left = np.maximum(n - 1 - t, 0)
    k = known.astype(np.float32)
    return np.stack([np.log1p(t), (t == 0).astype(np.float32), k * np.log1p(n), k * np.log1p(left),
                     k * (left == 0), k], axis=-1).astype(np.float32)


class SequenceModel(GenerativeModel):
    """An autoregressive model of sequences of rows under a parent context (see the module's
    docstring). Hyperparameters: epochs, batch_size (rows per step), hidden_dim, bins (value bins
    per numeric column), delta_bins (change bins), lr, max_sequence_length (longer histories are
    truncated at fit), early_stopping_patience ("auto": epochs worth PATIENCE_STEPS optimizer
    steps, at least 8; an int: epochs; None: never), category_embedding_max, max_modes
    and max_onehot (of the context's encoding), threads (CPU threads of training), seed, device,
    column_specs, verbose."""

    name = "sequence"
    sequential = True
    default_hyperparams: dict[str, Any] = {
        "epochs": None,  # None: enough for about TARGET_STEPS optimizer steps (20 to 300)
        "batch_size": 500,
        "hidden_dim": 64,
        "bins": 200,
        "delta_bins": 100,
        "lr": 2e-3,
        "max_sequence_length": 500,
        # "auto": about PATIENCE_STEPS optimizer steps' worth of epochs (at least 8); an int:
        # that many epochs; None: no early stop
        "early_stopping_patience": "auto",
        "category_embedding_max": 16,
        "max_modes": 4,
        "max_onehot": 32,
        "gmm_sample_size": 20_000,
        "threads": 1,  # CPU threads of training
    }

    def _validate_hyperparams(self) -> None:
        epochs = self._hp.get("epochs")
        patience = self._hp.get("early_stopping_patience")
        if not (patience is None or patience == "auto"
                or (isinstance(patience, int) and not isinstance(patience, bool) and patience >= 1)):
            raise ValueError(f"{type(self).__name__}: hyperparameter early_stopping_patience must be "
                             f"'auto', a positive int (epochs) or None (no early stop), got {patience!r}")
        if epochs is None:
            self._hp["epochs"] = 1  # validated as a positive int below, then put back
        try:
            super()._validate_hyperparams()
        finally:
            self._hp["epochs"] = epochs

    def __init__(self, **hyperparams: Any) -> None:
        super().__init__(**hyperparams)
        self._cols: list[_Column] = []
        self.net: _Net | None = None
        self.truncated = 0

    # ---------------------------------------------------------------- columns
    def _fit_columns(self, data: pd.DataFrame, starts: np.ndarray) -> None:
        nb, nd = int(self._hp["bins"]), int(self._hp["delta_bins"])
        nums, cats = [], []
        first = np.zeros(len(data), dtype=bool)
        first[starts] = True
        for codec in self.transformer.codecs:
            if codec.kind == "numerical":
                v = codec.numeric_values(data[codec.name])
                fin = v[np.isfinite(v)]
                log = False
                raw_min = (codec.min - codec.offset) if codec.min is not None else 0.0
                if len(fin) and raw_min > 0 and codec.dtype.get("family") not in ("datetime", "date", "timedelta"):
                    lo, hi = np.quantile(fin, [0.01, 0.99])
                    log = lo > 0 and hi / lo >= _LOG_SPAN
                z = np.log(v) if log else v
                d = np.diff(z, prepend=np.nan)
                d[first] = np.nan
                zf, df = z[np.isfinite(z)], d[np.isfinite(d)]
                col = _Column(codec.name, "num", 0, log=log,
                              mean=float(zf.mean()) if len(zf) else 0.0,
                              std=float(zf.std()) or 1.0 if len(zf) else 1.0,
                              dmean=float(df.mean()) if len(df) else 0.0,
                              dstd=float(df.std()) or 1.0 if len(df) else 1.0,
                              zmin=float(zf.min()) if len(zf) else 0.0,
                              zmax=float(zf.max()) if len(zf) else 0.0,
                              abs_bins=_bins(zf, nb), delta_bins=_bins(df, nd),
                              has_null=bool(codec.has_null))
                col.vocab = len(col.abs_bins) + len(col.delta_bins) + 1  # + missing
                # the times of day of the values drawn as values: first rows, rows after a gap
                self._fit_time_of_day(col, codec, z[np.isfinite(z) & ~np.isfinite(d)], nb)
                nums.append(col)
            else:
                cats.append(_Column(codec.name, "cat", max(1, codec.n_categories)))
        self._cols = nums + cats

    @staticmethod
    def _fit_time_of_day(col: _Column, codec: Any, z: np.ndarray, n_bins: int) -> None:
        """A timestamp's times of day (its values' bins are too wide to hold a day's rhythm: a
        storm's first observation at 03:17 instead of a synoptic hour; see
        :mod:`..transform.time_parts`)."""
        per_day = units_per_day(str(codec.dtype.get("unit", "")))
        if codec.dtype.get("family") != "datetime" or per_day is None or col.log or not len(z):
            return
        shift = float(codec.offset % per_day)
        tod = np.mod(z + shift, per_day)
        if not tod.any():
            return  # all at midnight: a day's step keeps them there
        bins = _bins(tod, n_bins)
        share = np.bincount(_assign(bins, tod), minlength=len(bins)) / len(tod)
        col.day, col.day_shift = float(per_day), shift
        col.tod_bins = np.column_stack([bins, share])
        col.tod_features = True

    def _tokens(self, data: pd.DataFrame, starts: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: target tokens (n, J), numeric parts (n, n_num, the widest column's width),
        category codes (n, n_cat)."""
        n = len(data)
        first = np.zeros(n, dtype=bool)
        first[starts] = True
        codecs = {c.name: c for c in self.transformer.codecs}
        tokens = np.zeros((n, len(self._cols)), dtype=np.int64)
        width = max([c.width for c in self._cols if c.kind == "num"], default=3)
        nums = np.zeros((n, sum(c.kind == "num" for c in self._cols), width), dtype=np.float32)
        cats = np.zeros((n, sum(c.kind == "cat" for c in self._cols)), dtype=np.int64)
        i = k = 0
        for j, c in enumerate(self._cols):
            codec = codecs[c.name]
            if c.kind == "num":
                v = codec.numeric_values(data[c.name])
                z = np.log(np.where(v > 0, v, np.nan)) if c.log else v
                null = ~np.isfinite(z)
                prev = np.roll(z, 1)
                prev_ok = ~first & np.isfinite(prev)
                d = np.where(prev_ok, z - prev, np.nan)
                tok = np.where(prev_ok & ~null,
                               c.n_abs + _assign(c.delta_bins, np.nan_to_num(d)),
                               _assign(c.abs_bins, np.nan_to_num(z)))
                tokens[:, j] = np.where(null, c.vocab - 1, tok)
                nums[:, i, :c.width] = self._num_parts(c, z, d)
                i += 1
            else:
                codes = codec.codes(data[c.name])
                codes = np.where(codes < 0, 0, codes)
                tokens[:, j] = codes
                cats[:, k] = codes
                k += 1
        return tokens, nums, cats

    @staticmethod
    def _num_parts(c: _Column, z: np.ndarray, d: np.ndarray) -> np.ndarray:
        """(n, width) features of values ``z`` and their changes ``d`` (NaN: missing / none):
        standardized value (0 when missing), missing, standardized change (0 when none), and for
        a timestamp with ``tod_features`` its time of day as harmonics of the day (0 when
        missing)."""
        out = np.empty((len(z), c.width), dtype=np.float32)
        null = ~np.isfinite(z)
        zn = z - c.mean
        zn /= c.std
        _clip_(zn, -8.0, 8.0)
        zn[null] = 0.0
        dn = d - c.dmean
        dn /= c.dstd
        dn[~np.isfinite(dn)] = 0.0
        out[:, 0] = zn
        out[:, 1] = null
        out[:, 2] = _clip_(dn, -8.0, 8.0)
        if c.tod_features:
            # the harmonics as powers of one point on the unit circle: one complex exp, not a
            # sine and a cosine per harmonic
            turn = np.exp((2j * np.pi / c.day) * c.time_of_day(np.where(null, 0.0, z)))
            for q, k in enumerate(_TOD_HARMONICS):
                wave = turn ** k
                out[:, 3 + 2 * q] = wave.imag
                out[:, 4 + 2 * q] = wave.real
            out[null, 3:] = 0.0
        return out

    # ---------------------------------------------------------------- training
    def _train(self, data: pd.DataFrame, context: pd.DataFrame | None,
               groups: np.ndarray | None = None) -> None:
        hp = self._hp
        starts, lengths = _runs(groups, len(data))
        self._fit_columns(data, starts)
        dev = _nn.resolve_device(hp["device"])
        seed = int(hp["seed"])
        threads = torch.get_num_threads()
        if dev.type == "cpu":
            # steps over a few hundred rows: more threads only wait on each other (measured 8x
            # slower with two threads on a busy two-core driver)
            torch.set_num_threads(min(threads, int(hp["threads"])))
        try:
            with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
                torch.manual_seed(seed)
                self._build()
                self._fit_loop(data, context, starts, lengths, dev)
        finally:
            torch.set_num_threads(threads)

    def _build(self) -> None:
        hp = self._hp
        ctx_layout = (_nn.Layout.from_transformer(self.context_transformer)
                      if self.context_transformer is not None else None)
        self._ctx_layout = ctx_layout
        self.net = _Net(self._cols, ctx_layout, int(hp["hidden_dim"]), int(hp["category_embedding_max"]))

    def _fit_loop(self, data: pd.DataFrame, context: pd.DataFrame | None, starts: np.ndarray,
                  lengths: np.ndarray, dev: torch.device) -> None:
        hp = self._hp
        cap = int(hp["max_sequence_length"])
        self.truncated = int((lengths > cap).sum())
        tokens, nums, cats = self._tokens(data, starts)
        ctx = None
        if context is not None:
            rng = np.random.default_rng(int(hp["seed"]))
            ctx = torch.from_numpy(self.context_transformer.transform(
                context.iloc[starts].reset_index(drop=True), rng, "context"))
        lens = np.minimum(lengths, cap)
        n_seq = len(starts)
        net = self.net.to(dev)
        opt = FlatAdam(list(net.parameters()), lr=float(hp["lr"]), betas=(0.9, 0.99), weight_decay=1e-6)
        gen = np.random.default_rng(int(hp["seed"]) + 1)
        rows_per_step = int(hp["batch_size"])
        epochs = self._hp["epochs"]
        per_epoch = max(1, int(np.ceil(lens.sum() / rows_per_step)))
        if epochs is None:
            epochs = int(np.clip(np.ceil(TARGET_STEPS / per_epoch), 20, 300))
        patience = hp["early_stopping_patience"]
        if patience == "auto":
            patience = max(8, int(np.ceil(PATIENCE_STEPS / per_epoch)))
        self.logger.info("training %d epochs of about %d steps (early stop after %s epochs without a "
                         "better loss)", epochs, per_epoch, patience)
        tracker = self._epochs("loss", "the training loss", total=epochs, patience=patience)
        try:
            for epoch in range(epochs):
                # batches of sequences of similar length, about batch_size rows each, in random order
                jitter = np.argsort(lens + gen.random(n_seq) * 2.0, kind="stable")
                batches, cur, rows = [], [], 0
                for s in jitter:
                    cur.append(s)
                    rows += int(lens[s])
                    if rows >= rows_per_step:
                        batches.append(cur)
                        cur, rows = [], 0
                if cur:
                    batches.append(cur)
                total, count = 0.0, 0
                for b in gen.permutation(len(batches)):
                    sel = np.asarray(batches[b])
                    known = gen.random(len(sel)) >= 0.25
                    # the batch's (sequence, step) arrays, padded to its longest sequence only
                    # (the batches hold sequences of similar lengths: a grid of every sequence
                    # x the longest would hold thousands of short histories x one long one)
                    sl = lens[sel]
                    tb = int(sl.max())
                    steps = np.broadcast_to(np.arange(tb)[None, :], (len(sel), tb))
                    valid = steps < sl[:, None]
                    idx = np.where(valid, starts[sel][:, None] + steps, 0)
                    mask = torch.from_numpy(valid)
                    pos = torch.from_numpy(_pos_features(
                        steps, np.broadcast_to(lengths[sel][:, None], (len(sel), tb)),
                        np.broadcast_to(known[:, None], (len(sel), tb))))
                    loss = self._loss(net, torch.from_numpy(tokens[idx]).to(dev),
                                      torch.from_numpy(nums[idx]).to(dev),
                                      torch.from_numpy(cats[idx]).to(dev), mask.to(dev),
                                      torch.from_numpy(steps == (sl - 1)[:, None]).to(dev),
                                      pos.to(dev), ctx[sel].to(dev) if ctx is not None else None)
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                    opt.step()
                    total += float(loss.detach()) * int(mask.sum())
                    count += int(mask.sum())
                if tracker.end(epoch, loss=total / max(count, 1)):
                    break
        finally:
            tracker.close()
            opt.release()
        self.net = net.cpu().eval()

    def _loss(self, net: _Net, tok: torch.Tensor, num: torch.Tensor, cat: torch.Tensor,
              mask: torch.Tensor, last: torch.Tensor, pos: torch.Tensor,
              ctx: torch.Tensor | None) -> torch.Tensor:
        b, t = tok.shape[:2]
        c = net.context(ctx, b)                                  # (b, H)
        feats = net.features(num, cat)                           # (b, t, F)
        cexp = c[:, None, :].expand(b, t, -1)
        h = net.body(net.body_input(net.history(feats), pos, cexp))
        base = net.head_input(h, cexp, pos)
        m = mask.float()
        loss = torch.zeros((), device=tok.device)
        for j, (col, head) in enumerate(zip(net.cols, net.heads)):
            logits = head(torch.cat([base, feats * net.prefix_masks[j]], dim=-1))
            if j == 0:  # the first head's extra output: end of sequence after this row
                stop = logits[..., -1]
                known = pos[..., 5] > 0.5
                w = m * (~known).float()
                loss = loss + (nn.functional.binary_cross_entropy_with_logits(
                    stop, last.float(), reduction="none") * w).sum() / w.sum().clamp_min(1.0)
            logp = torch.log_softmax(logits[..., :col.vocab], dim=-1)
            target = tok[..., j]
            ce = -logp.gather(-1, target[..., None])[..., 0]
            if col.kind == "num" and col.n_abs > 1:
                # value bins are ordered: half of a value's weight goes to its neighbours, so
                # that a parent's value moves the child's value smoothly (fewer first rows than
                # bins to learn them from one by one)
                is_abs = target < col.n_abs
                # ... but a value that is a point mass of its own (a year, a round price) is
                # learned as itself: spreading it would draw its neighbours as often
                is_abs &= net.spread[j].to(target.device)[target.clamp(max=col.n_abs - 1)]
                near = torch.zeros_like(ce)
                for off, w in _NEIGHBOURS:
                    nb = (target + off).clamp(0, col.n_abs - 1)
                    near = near - w * logp.gather(-1, nb[..., None])[..., 0]
                ce = torch.where(is_abs, 0.5 * ce + 0.5 * near, ce)
            loss = loss + (ce * m).sum() / m.sum()
        return loss

    # ---------------------------------------------------------------- sampling
    def _sample(self, n: int, context: pd.DataFrame | None, seed: int,
                groups: Any = None) -> pd.DataFrame:
        starts, lengths = _runs(groups, n)
        ctx = context.iloc[starts].reset_index(drop=True) if context is not None else None
        return self._generate(lengths, ctx, seed, known=True)[0]

    def sample_sequences(self, n_sequences: int, context: pd.DataFrame | None = None,
                         seed: int | None = None, max_length: int | None = None
                         ) -> tuple[pd.DataFrame, np.ndarray]:
        """``n_sequences`` sequences whose lengths the model draws (its end-of-sequence output,
        at most ``max_length``, by default the longest trained): (rows, sequence number per row)."""
        if not self.fitted:
            raise RuntimeError("SequenceModel is not fitted; call fit() first")
        context = self._prepare_context(context, n_sequences, "sample_sequences")
        cap = int(max_length or self._hp["max_sequence_length"])
        seed = int(self._hp["seed"] if seed is None else seed)
        return self._generate(np.full(n_sequences, cap, dtype=np.int64), context, seed, known=False)

    @torch.no_grad()
    def _generate(self, lengths: np.ndarray, context: pd.DataFrame | None, seed: int,
                  known: bool) -> tuple[pd.DataFrame, np.ndarray]:
        net = self.net
        dev = self.sample_device
        gen = torch.Generator(device=dev).manual_seed(seed)
        rng = np.random.default_rng(seed)
        g = len(lengths)
        order = np.argsort(-lengths, kind="stable")   # active sequences are a prefix at every step
        lens = lengths[order]
        c = None
        if context is not None:
            c = torch.from_numpy(self.context_transformer.transform(
                context.iloc[order].reset_index(drop=True), rng, "context")).to(dev)
        hist = torch.zeros(g, (1 + len(_DECAYS)) * net.feat_dim)  # see _Net.history
        fast = net.inference_weights()
        body_ctx, head_ctx = fast.per_sequence(net.context(c, g))
        hid = net.hidden
        cols = self._cols
        n_num = sum(col.kind == "num" for col in cols)
        n_cat = len(cols) - n_num
        prev_z = np.full((g, n_num), np.nan)
        tmax = int(lens.max()) if g else 0
        # the drawn rows, each sequence's after one another (sorted order): as many as the
        # lengths add up to, not sequences x longest (a chunk with one long history and
        # thousands of short ones stays the chunk's size)
        first_row = np.cumsum(lens) - lens
        z_out = np.full((int(lens.sum()), n_num), np.nan)
        c_out = np.zeros((int(lens.sum()), n_cat), dtype=np.int64)
        alive = np.ones(g, dtype=bool)
        out_len = np.zeros(g, dtype=np.int64)
        # per column: a numeric one's step of sampling, a category's last layer padded
        draws = [self._num_draw(col, fast.w2[j], fast.b2[j]) if col.kind == "num" else
                 _nn.logits_layer(fast.w2[j][:col.vocab], fast.b2[j][:col.vocab])
                 for j, col in enumerate(cols)]
        for t in range(tmax):
            k_t = int((lens > t).sum())
            if known:
                # every sequence runs to its length: the active ones are the first k_t (slices,
                # not gathers)
                if k_t == 0:
                    break
                act = ti = slice(0, k_t)
                m = k_t
            else:
                act = np.flatnonzero(alive[:k_t])
                if len(act) == 0:
                    break
                ti = torch.from_numpy(act)
                m = len(act)
            at = first_row[act] + t                    # the active sequences' rows at step t
            pos = torch.from_numpy(_pos_features(np.full(m, t), lens[act],
                                                 np.full(m, known))).to(dev)
            hv = hist[ti]
            h = torch.relu_(torch.addmm(body_ctx[ti], torch.cat([hv, pos], dim=1), fast.body_step))
            h = torch.relu_(torch.addmm(fast.body2_b, h, fast.body2_t))
            # every head's first layer at once
            pre = torch.addmm(head_ctx[ti], torch.cat([h, pos], dim=1), fast.w1_step)
            feats = torch.zeros(m, net.feat_dim)   # this row's columns drawn so far
            stop = None
            i = k = 0
            for j, col in enumerate(cols):
                lo = net.starts[j]
                hj = pre[:, j * hid:(j + 1) * hid]
                if lo:
                    hj = torch.addmm(hj, feats[:, :lo], fast.w1_feat[j])
                hj = torch.relu(hj)
                w2, b2 = fast.w2[j], fast.b2[j]
                if j == 0 and not known:
                    stop = torch.sigmoid(hj @ w2[-1] + b2[-1])
                if col.kind == "num":
                    pz = prev_z[act, i]
                    z, parts = draws[j](hj, pz, gen, rng)
                    feats[:, lo:lo + col.width] = torch.from_numpy(parts)
                    z_out[at, i] = z
                    prev_z[act, i] = z
                    i += 1
                else:
                    w_cat, b_cat = draws[j]
                    tok = _nn.sample_categories(torch.addmm(b_cat, hj, w_cat), gen,
                                                col.vocab).long()
                    feats[:, lo:lo + net.widths[j]] = net.embeds[col.name](tok)
                    c_out[at, k] = tok.numpy()
                    k += 1
            hist[ti] = net.next_history(hv, feats)
            out_len[act] += 1
            if stop is not None:
                ended = torch.rand(m, generator=gen).numpy() < stop.numpy()
                alive[act[ended]] = False
        # rows in sequence order, sequences in their given order
        inv = np.empty(g, dtype=np.int64)
        inv[order] = np.arange(g)
        sizes = (out_len if not known else lens)[inv]       # per sequence, in the given order
        seq_id = np.repeat(np.arange(g), sizes)
        step = np.arange(len(seq_id)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = first_row[inv[seq_id]] + step
        frame = self._decode(z_out[rows], c_out[rows])
        return frame, seq_id

    @staticmethod
    def _num_draw(col: _Column, w2: torch.Tensor, b2: torch.Tensor
                  ) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
        """A numeric column's step of sampling: from its head's hidden layer ``h`` (second layer
        ``w2``, ``b2``) and the rows' previous values ``prev`` (NaN: none or missing), a token
        per row (a change or missing where there is a previous value, else a value or missing:
        only those outputs are computed), the value it stands for (uniform within its bin,
        clipped to the trained range) and the row's features of it (:meth:`_num_parts`). The
        weights and the tables per token are sliced once per call of ``_generate``."""
        a, v = col.n_abs, col.vocab
        bins = np.concatenate([col.abs_bins, col.delta_bins, [[0.0, 0.0]]])
        lo_t, wid_t = bins[:, 0], bins[:, 1] - bins[:, 0]
        # the outputs a row can take (their tokens, and the second layer's rows for them): with
        # a previous value the changes and missing, without one the values and missing
        outputs = []
        for toks in (np.arange(a, v), np.append(np.arange(a), v - 1)):
            keep = torch.from_numpy(toks)
            outputs.append((toks, *_nn.logits_layer(w2[keep], b2[keep])))
        tod_cum = None if col.tod_bins is None else np.cumsum(col.tod_bins[:, 2])

        def draw(h: torch.Tensor, prev: np.ndarray, gen: torch.Generator,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            have_prev = ~np.isnan(prev)
            tok = np.empty(len(prev), dtype=np.int64)
            with_prev = int(np.count_nonzero(have_prev))
            for rows, n, (toks, w, b) in zip((have_prev, ~have_prev),
                                             (with_prev, len(prev) - with_prev), outputs):
                if n:   # all rows at once (most steps) without a gather
                    hr = h if n == len(prev) else h[torch.from_numpy(np.flatnonzero(rows))]
                    logits = torch.addmm(b, hr, w)
                    tok[rows] = toks[_nn.sample_categories(logits, gen, len(toks)).numpy()]
            u = rng.random(len(tok))
            z = lo_t[tok] + u * wid_t[tok]
            change = (tok >= a) & (tok < v - 1)
            z[change] += prev[change]
            if tod_cum is not None:  # a value drawn: its day from its bin, its time of day real
                drawn = np.flatnonzero(tok < a)
                if len(drawn):
                    t = np.minimum(np.searchsorted(tod_cum, rng.random(len(drawn)), "right"),
                                   len(tod_cum) - 1)
                    tod = col.tod_bins[t, 0] + rng.random(len(drawn)) * (col.tod_bins[t, 1]
                                                                       - col.tod_bins[t, 0])
                    zd = z[drawn]
                    z[drawn] = zd - col.time_of_day(zd) + tod
            _clip_(z, col.zmin, col.zmax)
            z[tok == v - 1] = np.nan
            return z, SequenceModel._num_parts(col, z, z - prev)

        return draw

    def _decode(self, z: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
        codecs = {c.name: c for c in self.transformer.codecs}
        n = len(z)
        index = pd.RangeIndex(n)
        out: dict[str, pd.Series] = {}
        i = k = 0
        for col in self._cols:
            codec = codecs[col.name]
            if col.kind == "num":
                v = z[:, i]
                null = ~np.isfinite(v)
                v = np.exp(v) if col.log else v
                out[col.name] = codec.from_numeric(np.nan_to_num(v), null, index=index)
                i += 1
            else:
                out[col.name] = codec.from_codes(codes[:, k], index=index)
                k += 1
        return pd.DataFrame({c: out[c] for c in self.data_columns}, index=index)

    # ---------------------------------------------------------------- state
    def to_device(self, device: str | torch.device) -> bool:
        self.sample_device = torch.device("cpu")  # a step-by-step sampler: the CPU is faster
        return False

    def _tensors(self) -> dict[str, torch.Tensor]:
        if not self.fitted or self.net is None:
            return {}
        return _nn.module_tensors({"net": self.net})

    def _extra_meta(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self._cols], "truncated": self.truncated}

    def _load_tensors(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self._cols = [_Column.from_dict(d) for d in extra.get("columns", [])]
        self.truncated = int(extra.get("truncated", 0))
        if not self.fitted:
            return
        self._build()
        _nn.load_module_tensors({"net": self.net}, tensors)
        self.net.eval()


def _runs(groups: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(first row, length) of each run of equal consecutive ``groups`` values (each row its own
    run when ``groups`` is None)."""
    if groups is None:
        return np.arange(n, dtype=np.int64), np.ones(n, dtype=np.int64)
    g = groups if isinstance(groups, pd.Series) else pd.Series(groups)
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} values but there are {n} rows; one group value per row")
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes = pd.factorize(g)[0]         # any key type; a missing key is -1
    change = np.ones(n, dtype=bool)
    change[1:] = codes[1:] != codes[:-1]
    change |= codes < 0                # rows without a group (no parent): a sequence each
    starts = np.flatnonzero(change).astype(np.int64)
    lengths = np.diff(np.append(starts, n)).astype(np.int64)
    return starts, lengths

"""GenerativeModel: the contract every model follows, and its safe persistence (JSON + safetensors).

A model learns a pandas DataFrame, optionally row-aligned with a *context* DataFrame (the parent
attributes each row was generated under), and samples new rows, optionally under a given context.

State is ``(meta, tensors)``: ``meta`` a JSON-able dict (model name, format version,
hyperparameters, fitted transformers, checksums), ``tensors`` a dict of named CPU tensors. Saved
form: ``meta.json`` + ``tensors.safetensors``; nothing is ever unpickled.
"""
from __future__ import annotations

import abc
import copy
import hashlib
import io
import json
import logging
import math
import os
import sys
import zipfile
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from synthohive_spark.transform import DataTransformer, TransformError, check_frame
from synthohive_spark.transform.row_formula import (RowFormula, apply_formulas, drop_formulas,
                                                    plan_row_formulas, with_formula_columns)
from synthohive_spark.transform.row_lookup import RowLookup, apply_lookups, plan_row_lookups
from synthohive_spark.transform.row_order import RowOrder, from_gaps, plan_row_orders, to_gaps
from synthohive_spark.transform.time_parts import (TimeSplit, join_times, plan_time_splits,
                                                  public_columns, split_times)
from synthohive_spark.errors import ModelStateError  # noqa: F401 (re-exported)

logger = logging.getLogger("synthohive_spark.models")

FORMAT_VERSION = 1
META_BLOB = "meta.json"
TENSORS_BLOB = "tensors.safetensors"

COMMON_HYPERPARAMS: dict[str, Any] = {
    "seed": 0,
    "device": "cpu",
    "column_specs": None,
    "verbose": False,
}


# --------------------------------------------------------------------------- checksums / blobs
def tensors_checksum(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _meta_checksum(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "checksums"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _jsonable(obj: Any) -> Any:
    """Tuples to lists, numpy scalars to Python (hyperparameters may be given either way)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def model_to_blobs(model: "GenerativeModel") -> dict[str, bytes]:
    """A fitted model as named byte blobs: ``meta.json`` and ``tensors.safetensors``."""
    from safetensors.torch import save as st_save

    meta, tensors = model.to_state()
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    return {
        META_BLOB: json.dumps(meta, sort_keys=True, allow_nan=False).encode("utf-8"),
        TENSORS_BLOB: st_save(tensors) if tensors else b"",
    }


def model_from_blobs(blobs: dict[str, bytes]) -> "GenerativeModel":
    """Inverse of :func:`model_to_blobs`; ModelStateError on missing, truncated or tampered blobs."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    missing = [b for b in (META_BLOB, TENSORS_BLOB) if b not in blobs]
    if missing:
        raise ModelStateError(f"model state lacks the blobs {missing}; found {sorted(blobs)}")
    try:
        meta = json.loads(bytes(blobs[META_BLOB]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelStateError(f"model state {META_BLOB} is not valid JSON (truncated or tampered): {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelStateError(f"model state {META_BLOB} must hold a JSON object")
    raw = bytes(blobs[TENSORS_BLOB])
    if raw:
        try:
            tensors = st_load(raw)
        except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
            raise ModelStateError(f"model state {TENSORS_BLOB} is not a valid safetensors blob (truncated or "
                                  f"tampered, or not written by this library): {exc}") from exc
    else:
        tensors = {}
    return GenerativeModel.from_state(meta, tensors)


class _EpochTracker:
    """One epoch's end for CTGAN and TVAE: the history row, the log line, the bar, early stopping."""

    def __init__(self, history: list, total: int, bar: Any, monitor: str, what: str,
                 patience: Any, log: logging.Logger) -> None:
        self.history, self.total, self.bar, self.log = history, total, bar, log
        self.monitor, self.what = monitor, what
        self.patience = None if patience is None else int(patience)
        self.best, self.bad = math.inf, 0

    def end(self, epoch: int, **losses: float) -> bool:
        """Record epoch ``epoch`` (0-based); True when training should stop early."""
        self.history.append({"epoch": epoch + 1, **losses})
        self.log.info("epoch %d/%d " + " ".join(f"{k} %.4f" for k in losses), epoch + 1, self.total,
                      *losses.values())
        self.bar.update(1)
        self.bar.set_postfix(**{k: f"{v:.3f}" for k, v in losses.items()})
        if self.patience is None:
            return False
        value = losses[self.monitor]
        if value < self.best - 1e-4:
            self.best, self.bad = value, 0
            return False
        self.bad += 1
        if self.bad >= self.patience:
            self.log.info("early stop at epoch %d: %s has not improved for %d epochs", epoch + 1,
                          self.what, self.patience)
            return True
        return False

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------- base class
#: Model names -> GenerativeModel subclasses: a subclass that sets its own ``name`` is registered
#: when it is defined (``__init_subclass__``); ``registry.register_model`` adds other names.
_REGISTRY: dict[str, type] = {}


def get_model_class(name: str) -> type:
    """The GenerativeModel subclass registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(_REGISTRY)}") from None


class GenerativeModel(abc.ABC):
    """A generative model of one table, optionally conditioned on a context table.

    Subclasses set ``name`` and ``default_hyperparams`` and implement ``_train``, ``_sample``,
    ``_tensors`` and ``_load_tensors`` (and may override ``_fit_transformers``).
    """

    name: ClassVar[str] = ""
    default_hyperparams: ClassVar[dict[str, Any]] = {}
    #: whether the model learns sequences of rows (``groups`` in fit/train/sample)
    sequential: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("name")
        if isinstance(own, str) and own:
            _REGISTRY[own] = cls

    def __init__(self, **hyperparams: Any) -> None:
        defaults = self.hyperparameter_defaults()
        unknown = sorted(set(hyperparams) - set(defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown hyperparameter(s) {unknown}; "
                            f"valid ones are {sorted(defaults)}")
        hp = copy.deepcopy(defaults)
        hp.update(_jsonable(hyperparams))
        self._hp: dict[str, Any] = hp
        self._validate_hyperparams()
        self.transformer: DataTransformer | None = None
        self.context_transformer: DataTransformer | None = None
        self.fitted = False
        self.training_history: list[dict[str, float]] = []
        self.sample_device = torch.device("cpu")
        #: what a differentially private fit guarantees (epsilon spent, delta, what it covers and
        #: what it does not; :func:`._dp.privacy_statement`); None: no differential privacy
        self.privacy: dict[str, Any] | None = None
        #: timestamp columns learned as a day and a time of day (:mod:`..transform.time_parts`)
        self.time_splits: list[TimeSplit] = []
        #: columns learned as their gap over another of their row (:mod:`..transform.row_order`)
        self.row_orders: list[RowOrder] = []
        #: columns computed from two others of their row (:mod:`..transform.row_formula`)
        self.row_formulas: list[RowFormula] = []
        #: numbers set from the real value of their row's key (:mod:`..transform.row_lookup`)
        self.row_lookups: list[RowLookup] = []

    def to_device(self, device: str | torch.device) -> bool:
        """Sample on ``device`` from now on; returns whether the model has a network to move there
        (models that sample with numpy return False and stay on the CPU). Rows are reproducible for
        a given seed and device type: a GPU's random streams differ from the CPU's."""
        return False

    def _sample_chunk(self) -> int:
        """Rows per generator pass: ``sample_batch_size`` on the CPU (2,048 by default: measured
        faster than 8,192 inside Spark, where the activations then stay in cache next to the JVM
        writing parquet), at least 65,536 on a GPU, which wants wide batches."""
        chunk = int(self._hp["sample_batch_size"])
        return chunk if self.sample_device.type == "cpu" else max(chunk, 65_536)

    # ---------------------------------------------------------------- hyperparameters
    @classmethod
    def hyperparameter_defaults(cls) -> dict[str, Any]:
        """Every valid hyperparameter with its default."""
        out = dict(COMMON_HYPERPARAMS)
        for klass in reversed(cls.__mro__):
            out.update(getattr(klass, "default_hyperparams", {}) or {})
        return _jsonable(out)

    def get_hyperparams(self) -> dict[str, Any]:
        """The hyperparameters as given (defaults filled in), JSON-able."""
        return copy.deepcopy(self._hp)

    def _validate_hyperparams(self) -> None:
        for key in ("epochs", "batch_size"):
            if key in self._hp and (not isinstance(self._hp[key], int) or self._hp[key] < 1):
                raise ValueError(f"{type(self).__name__}: hyperparameter {key} must be a positive int, "
                                 f"got {self._hp[key]!r}")
        specs = self._hp.get("column_specs")
        if specs is not None and not isinstance(specs, dict):
            raise TypeError(f"column_specs must be a dict of column name -> spec dict, got {type(specs).__name__}")
        try:
            json.dumps(self._hp, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{type(self).__name__}: hyperparameters must be JSON-able: {exc}") from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fitted={self.fitted}, {self._hp})"

    @property
    def data_columns(self) -> list[str]:
        """The columns the model learns and generates, as the user's frame names them."""
        if self.transformer is None:
            return []
        return with_formula_columns(public_columns(self.transformer.columns, self.time_splits),
                                    self.row_formulas)

    @property
    def context_columns(self) -> list[str]:
        return self.context_transformer.columns if self.context_transformer is not None else []

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"synthohive_spark.models.{self.name or type(self).__name__.lower()}")

    def _epochs(self, monitor: str, what: str, total: int | None = None,
                patience: Any = "hyperparameter") -> "_EpochTracker":
        """Bookkeeping of a neural model's epochs (``total``, by default the ``epochs``
        hyperparameter): history, log line, progress bar, early stop on ``monitor`` (one of the
        losses passed to ``end``; ``what`` names it in the log) after ``patience`` epochs without a
        better one (by default the ``early_stopping_patience`` hyperparameter; None: never)."""
        from tqdm.auto import tqdm

        total = int(self._hp["epochs"] if total is None else total)
        enabled = bool(self._hp.get("verbose")) and sys.stderr.isatty()
        bar = tqdm(total=total, desc=self.name, disable=not enabled, leave=False)
        if patience == "hyperparameter":
            patience = self._hp.get("early_stopping_patience")
        return _EpochTracker(self.training_history, total, bar, monitor, what, patience,
                             self.logger)

    # ---------------------------------------------------------------- fit
    def fit(self, data: pd.DataFrame, context: pd.DataFrame | None = None,
            groups: Any = None) -> "GenerativeModel":
        """Learn ``data`` (optionally row-aligned with ``context``). A sequential model takes
        ``groups``: one value per row, the rows of a sequence consecutive and in order."""
        self.fit_transformers(data, context)
        self.train(data, context, groups=groups)
        return self

    def fit_transformers(self, data: pd.DataFrame, context: pd.DataFrame | None = None) -> "GenerativeModel":
        """Fit the data (and context) encoders only; ``train`` learns the weights afterwards."""
        check_frame(data, "data")
        context = self._normalize_context(context)
        if context is not None:
            self._check_aligned(data, context)
            overlap = sorted(set(data.columns) & set(context.columns))
            if overlap:
                raise ValueError(f"columns {overlap} are in both data and context; a column is either "
                                 "learned or given as context")
        # a column that is a sum, difference, product or ratio of two others of its row is
        # computed, not learned; a column never before another of its row is learned as the
        # gap, a timestamp's daily cycle as a column of its own; not under differential privacy
        # (the choices read the data, and each column there costs a share of the budget) nor in
        # sequences (their order column's steps are the sequence model's own)
        self.time_splits, self.row_orders, self.row_formulas = [], [], []
        self.row_lookups = []
        specs = self._hp.get("column_specs")
        if not self.sequential and self._hp.get("epsilon") is None:
            self.row_formulas = plan_row_formulas(data, specs, self._hp["seed"])
            data = drop_formulas(data, self.row_formulas)
            self.row_orders = plan_row_orders(data, specs, self._hp["seed"], context)
        if self._hp.get("epsilon") is None:
            # a number its row's key determines (a route's distance) is still learned, then set
            # from the key's real value: in sequences too (a storm's category by its wind)
            ordered = {c for r in self.row_orders for c in (r.column, r.after)}
            self.row_lookups = plan_row_lookups(data, specs, self._hp["seed"], exclude=ordered)
        data = to_gaps(data, self.row_orders, context)
        if not self.sequential and self._hp.get("epsilon") is None:
            self.time_splits = plan_time_splits(data, specs)
        self._fit_transformers(split_times(data, self.time_splits, self._hp["seed"]), context)
        self.fitted = False
        return self

    def _fit_transformers(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
        hp = self._hp
        kwargs = {k: hp[k] for k in ("max_modes", "max_onehot", "gmm_sample_size") if k in hp}
        self.transformer = DataTransformer(column_specs=hp.get("column_specs"), seed=hp["seed"], **kwargs)
        self.transformer.fit(data, "data")
        self.context_transformer = None
        if context is not None:
            self.context_transformer = DataTransformer(column_specs=hp.get("column_specs"),
                                                       seed=hp["seed"] + 1, **kwargs)
            self.context_transformer.fit(context, "context")

    def train(self, data: pd.DataFrame, context: pd.DataFrame | None = None,
              groups: Any = None) -> "GenerativeModel":
        """Learn the weights on ``data`` with already fitted transformers (a shard, in distributed runs)."""
        self._check_groups(groups, len(data), "train")
        if self.transformer is None:
            raise RuntimeError(f"{type(self).__name__}.train needs fitted transformers; call fit() or "
                               "fit_transformers() first")
        check_frame(data, "data")
        self._check_columns(data, self.data_columns, "data")
        context = self._prepare_context(context, len(data), "train")
        data = split_times(to_gaps(drop_formulas(data[self.data_columns], self.row_formulas),
                                   self.row_orders, context),
                           self.time_splits, self._hp["seed"])
        self.training_history = []
        if self.sequential:
            self._train(data, context, groups)
        else:
            self._train(data, context)
        self.fitted = True
        self.sample_device = torch.device("cpu")  # training leaves the networks on the CPU
        return self

    # ---------------------------------------------------------------- sample
    def sample(self, n: int, context: pd.DataFrame | None = None, seed: int | None = None,
               groups: Any = None) -> pd.DataFrame:
        """``n`` new rows; row i is generated under context row i. Same state + seed -> same rows.
        A sequential model generates each run of equal ``groups`` values as one sequence."""
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        n = int(n)
        context = self._prepare_context(context, n, "sample")
        seed = int(self._hp["seed"] if seed is None else seed)
        if n == 0:
            empty = self.transformer.inverse_transform(np.zeros((1, self.transformer.output_width), np.float32))
            return self._join(empty.iloc[:0].reset_index(drop=True),
                              None if context is None else context.iloc[:0])
        self._check_groups(groups, n, "sample")
        if self.sequential:
            return apply_lookups(self._sample(n, context, seed, groups), self.row_lookups)
        return self._join(self._sample(n, context, seed), context)

    def _join(self, out: pd.DataFrame, context: pd.DataFrame | None) -> pd.DataFrame:
        """The user's columns from the learned ones (times of day, then gaps; ``context``: the
        rows' conditions)."""
        joined = from_gaps(join_times(out, self.time_splits), self.row_orders, context)
        return apply_formulas(apply_lookups(joined, self.row_lookups), self.row_formulas)

    def _check_groups(self, groups: Any, n: int, stage: str) -> None:
        if groups is None:
            return
        if not self.sequential:
            raise ValueError(f"{type(self).__name__} does not learn sequences; {stage} takes no "
                             "groups (use a sequential model, e.g. 'sequence')")
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} values but {stage} has {n} rows; one "
                             "group value per row")

    # ---------------------------------------------------------------- context checks
    @staticmethod
    def _normalize_context(context: pd.DataFrame | None) -> pd.DataFrame | None:
        if context is None:
            return None
        if not isinstance(context, pd.DataFrame):
            raise TypeError(f"context must be a pandas DataFrame or None, got {type(context).__name__}")
        return context if len(context.columns) else None

    @staticmethod
    def _check_aligned(data: pd.DataFrame, context: pd.DataFrame) -> None:
        if len(context) != len(data):
            raise ValueError(f"context has {len(context)} rows but data has {len(data)}; context must be "
                             "aligned row-for-row with data")

    @staticmethod
    def _check_columns(frame: pd.DataFrame, expected: list[str], what: str) -> None:
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        if missing or extra:
            raise ValueError(f"{what} columns differ from the fit-time ones: missing {missing}, unexpected "
                             f"{extra}; expected {expected}")

    def _prepare_context(self, context: pd.DataFrame | None, n: int, stage: str) -> pd.DataFrame | None:
        context = self._normalize_context(context)
        expected = self.context_columns
        if context is None:
            if expected:
                raise ValueError(f"this model was fit with context columns {expected}; {stage} needs a context "
                                 f"DataFrame with those columns and {n} rows")
            return None
        if not expected:
            raise ValueError(f"this model was fit without context, but a context with columns "
                             f"{list(context.columns)} was given to {stage}")
        if len(context) != n:
            raise ValueError(f"context has {len(context)} rows but {stage} needs {n}; context must be aligned "
                             "row-for-row with the rows")
        self._check_columns(context, expected, "context")
        return context[expected].reset_index(drop=True)

    # ---------------------------------------------------------------- abstract
    @abc.abstractmethod
    def _train(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None: ...

    @abc.abstractmethod
    def _sample(self, n: int, context: pd.DataFrame | None, seed: int) -> pd.DataFrame: ...

    @abc.abstractmethod
    def _tensors(self) -> dict[str, torch.Tensor]: ...

    @abc.abstractmethod
    def _load_tensors(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None: ...

    def _extra_meta(self) -> dict[str, Any]:
        """Model-specific JSON-able state beyond transformers and hyperparameters."""
        return {}

    # ---------------------------------------------------------------- state
    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """``(meta, tensors)``: JSON-able metadata and named CPU tensors; enough to sample.

        Also works after ``fit_transformers`` alone (``meta["fitted"]`` is then false): that state,
        shipped to workers, lets each ``from_state(...).train(shard)`` (distributed training)."""
        if self.transformer is None:
            raise RuntimeError(f"{type(self).__name__} has no fitted transformers; there is no state to save")
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._tensors().items()}
        meta: dict[str, Any] = {
            "model": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "format_version": FORMAT_VERSION,
            "torch_version": torch.__version__,
            "hyperparams": self.get_hyperparams(),
            "fitted": bool(self.fitted),
            "transformer": self.transformer.to_state(),
            "context_transformer": (self.context_transformer.to_state()
                                    if self.context_transformer is not None else None),
            "extra": _jsonable(self._extra_meta()),
        }
        if self.privacy is not None:
            meta["privacy"] = _jsonable(self.privacy)
        if self.time_splits:
            meta["time_splits"] = [s.to_state() for s in self.time_splits]
        if self.row_orders:
            meta["row_orders"] = [r.to_state() for r in self.row_orders]
        if self.row_formulas:
            meta["row_formulas"] = [f.to_state() for f in self.row_formulas]
        if self.row_lookups:
            meta["row_lookups"] = [lk.to_state() for lk in self.row_lookups]
        meta["checksums"] = {"tensors_sha256": tensors_checksum(tensors), "meta_sha256": _meta_checksum(meta)}
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "GenerativeModel":
        """Rebuild a fitted model; dispatches on ``meta["model"]`` through the registry."""
        if not isinstance(meta, dict) or "model" not in meta:
            raise ModelStateError("model state meta must be a dict with a 'model' entry")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelStateError(f"model state format_version {version!r} is not supported by this version of "
                                  f"synthohive_spark (expected {FORMAT_VERSION})")
        sums = meta.get("checksums")
        if not isinstance(sums, dict):
            raise ModelStateError("model state has no checksums; it was not written by GenerativeModel.to_state")
        if sums.get("meta_sha256") != _meta_checksum(meta):
            raise ModelStateError("model state metadata checksum mismatch: the metadata was altered or truncated")
        if sums.get("tensors_sha256") != tensors_checksum(tensors):
            raise ModelStateError(f"model state tensor checksum mismatch: the tensors ({sorted(tensors)}) were "
                                  "altered, truncated or belong to another model")
        try:
            klass = get_model_class(meta["model"])
        except ValueError as exc:
            raise ModelStateError(str(exc)) from exc
        if cls is not GenerativeModel and not issubclass(klass, cls):
            raise ModelStateError(f"state holds a {meta['model']!r} model, not a {cls.__name__}")
        try:
            model = klass(**meta["hyperparams"])
            model.transformer = DataTransformer.from_state(meta["transformer"])
            ctx = meta.get("context_transformer")
            model.context_transformer = DataTransformer.from_state(ctx) if ctx is not None else None
            model.fitted = bool(meta.get("fitted", True))
            model.privacy = meta.get("privacy")
            model.time_splits = [TimeSplit.from_state(s) for s in meta.get("time_splits") or []]
            model.row_orders = [RowOrder.from_state(r) for r in meta.get("row_orders") or []]
            model.row_formulas = [RowFormula.from_state(f)
                                  for f in meta.get("row_formulas") or []]
            model.row_lookups = [RowLookup.from_state(lk)
                                 for lk in meta.get("row_lookups") or []]
            model._load_tensors({k: v.cpu() for k, v in tensors.items()}, meta.get("extra") or {})
        except (KeyError, TypeError, RuntimeError, TransformError) as exc:
            raise ModelStateError(f"model state for {meta['model']!r} is incompatible: {exc!r}") from exc
        return model

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save to a directory (``meta.json`` + ``tensors.safetensors``) or, for a path with a file
        suffix such as ``.zip``, to one zip archive of those two files."""
        blobs = model_to_blobs(self)
        path = os.fspath(path)
        if os.path.isdir(path) or not os.path.splitext(path)[1]:
            os.makedirs(path, exist_ok=True)
            for name, data in blobs.items():
                with open(os.path.join(path, name), "wb") as fh:
                    fh.write(data)
        else:
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
                for name, data in blobs.items():
                    zf.writestr(name, data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "GenerativeModel":
        """Load what :meth:`save` wrote; never unpickles."""
        path = os.fspath(path)
        blobs: dict[str, bytes] = {}
        if os.path.isdir(path):
            for name in (META_BLOB, TENSORS_BLOB):
                p = os.path.join(path, name)
                if os.path.exists(p):
                    with open(p, "rb") as fh:
                        blobs[name] = fh.read()
        elif os.path.isfile(path):
            with open(path, "rb") as fh:
                raw = fh.read()
            try:
                with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                    for name in zf.namelist():
                        if name in (META_BLOB, TENSORS_BLOB):
                            blobs[name] = zf.read(name)
            except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
                raise ModelStateError(f"{path} is not a saved model archive (truncated or tampered): {exc}") from exc
        else:
            raise FileNotFoundError(f"no saved model at {path}")
        model = model_from_blobs(blobs)
        if cls is not GenerativeModel and not isinstance(model, cls):
            raise ModelStateError(f"{path} holds a {model.name!r} model, not a {cls.__name__}")
        return model

"""Generated rows that copy a real row, or come closer to one than ``minDCR``, rejected and
generated again on the executors (``rejectCopies`` / ``minDCR``; a relational stage's defaults
are the metadata's ``privacy.exact_copy_tolerance`` / ``privacy.min_dcr``).

A fitted model keeps no real row, so the real rows come at sample time (``reference=``). On the
driver, at most :data:`REFERENCE_ROWS` of their distinct rows (over the compared columns) are
chosen by a hash of their values (the same rows every time, whatever the partitioning),
collected, and indexed as plain numpy arrays (:class:`~synthohive_spark.privacy.nearest.NearestIndex`);
the index travels to the executors in the generation function's closure and is never saved
with a model. Each generated chunk is measured against it (the distance is the report's DCR);
the rows that break a setting are generated again with seeds derived from the chunk's, so the
same seed and partitioning give the same rows, at most :data:`MAX_RETRIES` times, after which
the task fails naming the table, the rows and the setting. The row count never changes.

Compared columns are the learned ones: keys, personal data, free text and unique labels are
generated apart from the model and never compared, nor a relational table's columns copied from
a parent or derived from its children (set after the check).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import numpy as np
import pandas as pd

from synthohive_spark.errors import CopyRejectionError, ParamError, SchemaError
from synthohive_spark.ml._generation import row_seed
from synthohive_spark.privacy.nearest import CATEGORY, NearestIndex, comparable, kind_of, rejected_rows

logger = logging.getLogger("synthohive_spark.ml.copies")

#: the most distinct real rows (over the compared columns) a table's generation is checked against
REFERENCE_ROWS = 50_000
#: regenerations of a chunk's rejected rows before the task fails
MAX_RETRIES = 10


@dataclass(frozen=True)
class CopySettings:
    """What a stage rejects: exact copies beyond ``tolerance`` (a share of the rows) when
    ``reject_copies``, and rows closer than ``min_dcr`` (> 0) to a real row."""

    reject_copies: bool
    tolerance: float
    min_dcr: float

    @property
    def active(self) -> bool:
        return self.reject_copies or self.min_dcr > 0

    def describe(self) -> str:
        parts = []
        if self.min_dcr > 0:
            parts.append(f"minDCR={self.min_dcr:g}")
        if self.reject_copies:
            parts.append(f"rejectCopies (exact_copy_tolerance={self.tolerance:g})")
        return " and ".join(parts)


def copy_settings(where: str, stage: Any, privacy: Any = None) -> CopySettings:
    """The settings of ``stage`` (its ``rejectCopies`` and ``minDCR`` params); a param left unset
    takes the metadata's ``privacy`` settings when there are some (``min_dcr``; copies are
    rejected when ``exact_copy_tolerance`` is set, 0 included: no copy at all)."""
    setting = getattr(privacy, "exact_copy_tolerance", None)
    tolerance = float(setting or 0.0)
    if stage.isSet(stage.rejectCopies) or privacy is None:
        reject = bool(stage.getRejectCopies())
    else:
        reject = setting is not None
    if stage.isSet(stage.minDCR) or privacy is None:
        min_dcr = float(stage.getMinDCR())
    else:
        min_dcr = float(getattr(privacy, "min_dcr", None) or 0.0)
    if not 0.0 <= min_dcr <= 1.0:
        raise ParamError(f"{where}: minDCR must be in [0, 1] (the distance to closest record is "
                         f"at most 1), got {min_dcr}")
    return CopySettings(reject_copies=reject, tolerance=tolerance, min_dcr=min_dcr)


def needs_reference(where: str, settings: CopySettings, how: str) -> ValueError:
    """The error of a generation asked to reject copies without real rows to compare with."""
    return ValueError(f"{where}: {settings.describe()} rejects generated rows too close to real "
                      f"rows, which a fitted model does not keep: pass them as {how}, or "
                      "turn the setting off (rejectCopies=False, minDCR=0).")


def _family(dtype: Any) -> str:
    from pyspark.sql import types as T

    if isinstance(dtype, T.BooleanType):
        return "boolean"
    if isinstance(dtype, T.NumericType):
        return "number"
    if isinstance(dtype, (T.DateType, T.TimestampType, T.TimestampNTZType)):
        return "datetime"
    return "string" if isinstance(dtype, T.StringType) else "other"


def _get(cfg: Any, name: str) -> Any:
    return cfg.get(name) if isinstance(cfg, Mapping) else getattr(cfg, name, None)


@dataclass(frozen=True)
class CopyGuard:
    """What a task needs to reject rows of ``table``: the index of real rows and the settings
    (plain data, in the generation function's closure; never saved)."""

    table: str
    index: NearestIndex
    min_dcr: float
    tolerance: Optional[float]          # None: exact copies are not rejected (only min_dcr)
    setting: str
    max_retries: int = MAX_RETRIES


def build_guard(table: str, reference: Any, columns: list[str], schema: Any,
                configs: Mapping[str, Any], settings: CopySettings, seed: int,
                how: str = "reference", private: bool = False) -> Optional[CopyGuard]:
    """The guard of ``table`` against the real rows of ``reference`` (a Spark DataFrame) over
    ``columns`` (compared as their ``configs``' sdtype, or ``schema``'s types, say), or None
    when nothing is to be rejected or compared (``how``: where the real rows came from, for
    messages; ``private``: the model is differentially private, which the check is not: said
    in the log). Two Spark jobs: the ranges of the number and
    date columns over all the real rows, and the hash-chosen distinct rows, collected."""
    from pyspark.sql import functions as F

    from synthohive_spark._spark import qcol

    if not settings.active:
        return None
    if private:
        logger.warning("table %s: %s reads real rows at sample time: which generated rows are "
                       "kept depends on them, outside the model's differential privacy (its "
                       "epsilon covers the model, not this check)", table, settings.describe())
    if not columns:
        logger.info("table %s: no learned column to compare with the real rows (%s)", table,
                    settings.describe())
        return None
    missing = [c for c in columns if c not in reference.columns]
    if missing:
        raise SchemaError(f"Table {table!r}: {settings.describe()} compares the generated rows "
                          f"with the real rows of {how}, which lack learned column(s) "
                          f"{missing}; they have {reference.columns}.")
    kinds = {c: kind_of(str(_get(configs.get(c), "sdtype") or "") or None,
                        _family(schema[c].dataType)) for c in columns}
    formats = {c: _get(configs.get(c), "datetime_format") for c in columns}
    spanned = [c for c in columns if kinds[c] != CATEGORY
               and _family(reference.schema[c].dataType) in ("number", "datetime", "boolean")]
    ranges: dict[str, float] = {}
    if spanned:
        row = reference.agg(*[f(qcol(c)) for c in spanned for f in (F.min, F.max)]).first()
        for i, c in enumerate(spanned):
            lo, hi = comparable([row[2 * i], row[2 * i + 1]], kinds[c], formats[c])
            ranges[c] = float(hi - lo) if np.isfinite(hi - lo) else 0.0
    cols = [qcol(c) for c in columns]
    rows = (reference.select(*cols).distinct()
            .orderBy(F.xxhash64(F.lit(int(seed)), *cols)).limit(REFERENCE_ROWS).toPandas())
    index = NearestIndex.build(rows, kinds, ranges, formats)
    logger.info("table %s: generated rows are checked (%s) against %d distinct real rows%s", table,
                settings.describe(), index.rows,
                f" (a sample: at most {REFERENCE_ROWS:,}, chosen by a hash of their values)"
                if len(rows) >= REFERENCE_ROWS else "")
    return CopyGuard(table=table, index=index, min_dcr=settings.min_dcr,
                     tolerance=settings.tolerance if settings.reject_copies else None,
                     setting=settings.describe())


def subset(values: Any, idx: np.ndarray) -> Any:
    """The rows ``idx`` of a frame or series (renumbered), or None."""
    return None if values is None else values.iloc[idx].reset_index(drop=True)


def without_close_rows(guard: Optional[CopyGuard], rows: pd.DataFrame,
                       regenerate: Callable[[np.ndarray, int], pd.DataFrame], seed: int,
                       groups: Any = None) -> pd.DataFrame:
    """``rows`` (one generated chunk) with the rows ``guard`` rejects replaced by rows from
    ``regenerate(positions, seed)`` (a row for each position given, under its context; seeds
    derived from ``seed``). Each round draws several candidates per rejected row (as many as the
    rejection rate seen so far asks, at most :data:`MAX_CANDIDATES` and 4 x the chunk's rows in
    all) and keeps the first that passes; with ``groups``, a sequence with a rejected row is
    generated again whole. CopyRejectionError when rows are still rejected after
    ``guard.max_retries`` rounds."""
    if guard is None or len(rows) == 0:
        return rows
    bad = rejected_rows(guard.index, rows, guard.min_dcr, guard.tolerance)
    share = float(bad.mean())
    for attempt in range(1, guard.max_retries + 1):
        if not bad.any():
            return rows
        s = row_seed(seed, "reject-copies", attempt)
        if groups is not None:  # whole sequences, one candidate each
            idx = _with_whole_groups(bad, groups)
            new = regenerate(idx, s)
            rows = _replaced(rows, idx, new)
            bad[idx] = ~_passes(guard, new)
            continue
        rows, share = redraw_round(rows, bad, share, regenerate, s,
                                   lambda cands, _: _passes(guard, cands))
    if bad.any():
        what = (f"closer than minDCR={guard.min_dcr:g} to a real row" if guard.min_dcr > 0 else
                f"exact copies of real rows beyond exact_copy_tolerance={guard.tolerance:g}")
        raise CopyRejectionError(
            f"Table {guard.table!r}: {int(bad.sum())} of {len(rows)} generated rows of a chunk "
            f"are still {what} after {guard.max_retries} regenerations: the model cannot make "
            "them far enough from the real rows; lower minDCR, allow some "
            "copies (privacy.exact_copy_tolerance), or turn the setting off.")
    return rows


#: the most candidates drawn for one rejected row in one round
MAX_CANDIDATES = 32


def redraw_round(rows: pd.DataFrame, bad: np.ndarray, share: float,
                 regenerate: Callable[[np.ndarray, int], pd.DataFrame], seed: int,
                 passes: Callable[[pd.DataFrame, np.ndarray], np.ndarray]
                 ) -> tuple[pd.DataFrame, float]:
    """One round of drawing the ``bad`` rows again: :func:`_candidates` candidates per row
    (``regenerate(positions, seed)``), the first that ``passes(candidates, their positions)``
    taking the row's place (``bad`` cleared for it, in place); returns the rows and the share of
    candidates rejected."""
    idx = np.flatnonzero(bad)
    tries = _candidates(share, len(idx), len(rows))
    reps = np.repeat(idx, tries)
    cands = regenerate(reps, seed)
    ok = passes(cands, reps).reshape(len(idx), tries)
    found = ok.any(axis=1)
    pick = np.flatnonzero(found) * tries + ok.argmax(axis=1)[found]
    bad[idx[found]] = False
    return _replaced(rows, idx[found], subset(cands, pick)), 1.0 - float(ok.mean())


def _candidates(share: float, rejected: int, rows: int) -> int:
    """Candidates per rejected row: enough that, at the rejection ``share`` seen, about 1 in 100
    rejected rows finds none; at most MAX_CANDIDATES, and 4 x ``rows`` in all."""
    want = MAX_CANDIDATES if share >= 1.0 else math.ceil(math.log(0.01) / math.log(max(share, 1e-9)))
    return int(max(1, min(want, MAX_CANDIDATES, 4 * rows // rejected)))


def _passes(guard: CopyGuard, rows: pd.DataFrame) -> np.ndarray:
    """Which of new rows may take a rejected row's place: far enough, and not a copy (the
    tolerated copies are the ones kept)."""
    return ~rejected_rows(guard.index, rows, guard.min_dcr,
                          None if guard.tolerance is None else 0.0)


def _with_whole_groups(bad: np.ndarray, groups: Any) -> np.ndarray:
    """Positions of the rejected rows and, with ``groups``, of every row of their groups."""
    if groups is None:
        return np.flatnonzero(bad)
    codes = pd.factorize(pd.Series(groups).reset_index(drop=True))[0]
    hit = np.unique(codes[bad & (codes >= 0)])
    return np.flatnonzero(bad | np.isin(codes, hit))


def _replaced(rows: pd.DataFrame, idx: np.ndarray, new: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the rows at ``idx`` replaced by ``new``'s, column by column (extension
    and Arrow-backed columns keep their type)."""
    out = {}
    for c in rows.columns:
        arr = rows[c].array.copy()
        arr[idx] = new[c].array
        out[c] = arr
    return pd.DataFrame(out, columns=rows.columns)

"""The DCR of privacy/nearest.py (the report's definition, which generation enforces) and the
executor-side rejection loop of ml/_copies.py, without Spark."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from synthohive_spark.errors import CopyRejectionError
from synthohive_spark.ml._copies import CopyGuard, without_close_rows
from synthohive_spark.privacy.nearest import (CATEGORY, DATETIME, NUMBER, NearestIndex, comparable,
                                              kind_of, rejected_rows)

KINDS = {"x": NUMBER, "c": CATEGORY}


def _brute_force(q: pd.DataFrame, ref: pd.DataFrame, ranges: dict[str, float]) -> np.ndarray:
    """The DCR written out row by row, as SDMetrics states it."""
    out = []
    for _, a in q.iterrows():
        best = np.inf
        for _, b in ref.iterrows():
            terms = []
            for col in ("x", "c"):
                va, vb = a[col], b[col]
                na, nb = pd.isna(va), pd.isna(vb)
                if col == "x" and not (na or nb):
                    diff = abs(va - vb)
                    terms.append(min(diff / ranges[col], 1.0) if ranges[col] else float(diff > 0))
                elif na or nb:
                    terms.append(0.0 if na and nb else 1.0)
                else:
                    terms.append(0.0 if va == vb else 1.0)
            best = min(best, sum(terms) / len(terms))
        out.append(best)
    return np.array(out)


def _frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(n):
        x = rng.integers(0, 6, n).astype(float)
        x[rng.random(n) < 0.15] = np.nan
        c = rng.choice(np.array(["a", "b", "c", None], dtype=object), n)
        return pd.DataFrame({"x": x, "c": c})

    return frame(40), frame(25)


def test_min_distance_is_the_dcr_definition():
    ref, q = _frames(0)
    ranges = {"x": 4.0}
    index = NearestIndex.build(ref, KINDS, ranges)
    want = _brute_force(q, ref, ranges)
    assert np.allclose(index.min_distance(q), want)
    # blocks of any size give the same distances; the range of the rows when none is given
    assert np.allclose(index.min_distance(q, block_cells=7), want)
    own = NearestIndex.build(ref, KINDS)
    assert own.ranges == (5.0,)
    assert np.allclose(own.min_distance(q), _brute_force(q, ref, {"x": 5.0}))
    # a range of 0: any difference counts 1
    flat = NearestIndex.build(ref, KINDS, {"x": 0.0})
    assert np.allclose(flat.min_distance(q), _brute_force(q, ref, {"x": 0.0}))


def test_hand_computed_distances():
    ref = pd.DataFrame({"x": [0.0, 10.0], "c": ["a", None]})
    index = NearestIndex.build(ref, KINDS, {"x": 10.0})
    q = pd.DataFrame({"x": [0.0, 2.0, np.nan, 30.0, 10.0], "c": ["a", "a", "a", "zz", None]})
    # equal; 0.2 apart on x; one side missing on x; x capped at 1 and a category nobody has
    # (1 to either row); missing equals missing
    assert index.min_distance(q).tolist() == pytest.approx([0.0, 0.1, 0.5, 1.0, 0.0])


def test_copies_are_the_rows_at_distance_zero():
    ref, q = _frames(1)
    q = pd.concat([q, ref.iloc[[3, 7, 7, 20]]], ignore_index=True)   # planted copies
    index = NearestIndex.build(ref, KINDS, {"x": 4.0})
    copies = index.copies(q)
    assert copies[-4:].all()
    assert (copies == (index.min_distance(q) == 0.0)).all()
    # -0.0 is 0.0, NaN equals NaN
    z = NearestIndex.build(pd.DataFrame({"x": [0.0, np.nan], "c": ["a", "a"]}), KINDS)
    assert z.copies(pd.DataFrame({"x": [-0.0, np.nan, 1.0], "c": ["a", "a", "a"]})).tolist() == \
        [True, True, False]


def test_the_index_keeps_each_row_once_unless_asked():
    ref = pd.DataFrame({"x": [1.0, 1.0, np.nan, np.nan, 2.0], "c": ["a", "a", None, None, "a"]})
    assert NearestIndex.build(ref, KINDS).rows == 3
    every = NearestIndex.build(ref, KINDS, distinct=False)
    assert every.rows == 5
    assert np.isnan(every.numbers[2, 0]) and every.codes[:, 0].tolist() == [0, 0, -1, -1, 0]


def test_values_compare_whatever_their_pandas_types():
    # one category whether it comes as 1, 1.0, "1", a nullable integer or an Arrow string
    ints = pd.Series(pd.array([1, None, 2], dtype="Int64"))
    assert comparable(ints, CATEGORY).tolist() == ["1", None, "2"]
    assert comparable(pd.Series([1.0, np.nan, 2.5]), CATEGORY).tolist() == ["1", None, "2.5"]
    arrow = pd.Series(pd.array(["1", None], dtype=pd.ArrowDtype(pa.string())))
    assert comparable(arrow, CATEGORY).tolist() == ["1", None]
    assert comparable(pd.Series([True, False]), CATEGORY).tolist() == ["true", "false"]
    # dates as objects (collected from Spark), Arrow date32 (generated) or datetime64: the same
    # epoch microseconds
    days = [dt.date(2021, 3, 1), None]
    want = comparable(pd.Series(days, dtype=object), DATETIME)
    gen = pd.Series(pd.array(days, dtype=pd.ArrowDtype(pa.date32())))
    assert np.allclose(comparable(gen, DATETIME), want, equal_nan=True)
    assert np.allclose(comparable(pd.to_datetime(pd.Series(days)), DATETIME), want, equal_nan=True)
    assert want[0] == pd.Timestamp("2021-03-01").value / 1000
    assert comparable(pd.Series(["2021-03-01", "bad"]), DATETIME, "%Y-%m-%d")[0] == want[0]
    assert np.isnan(comparable(pd.Series(["2021-03-01", "bad"]), DATETIME, "%Y-%m-%d")[1])
    assert kind_of("categorical", "number") == CATEGORY
    assert kind_of(None, "number") == NUMBER and kind_of("numerical", "datetime") == DATETIME
    assert kind_of(None, "boolean") == CATEGORY and kind_of(None, "string") == CATEGORY


def test_rejected_rows_keep_the_tolerated_share_of_copies():
    ref = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
    index = NearestIndex.build(ref, KINDS, {"x": 10.0})
    q = pd.DataFrame({"x": [1.0, 5.0, 2.0, 1.0, 1.5, 2.0], "c": ["a", "a", "b", "a", "a", "b"]})
    # copies at 0, 2, 3, 5: with a tolerance of 2 / 6 the first two stay
    assert rejected_rows(index, q, 0.0, 2 / 6).tolist() == [False, False, False, True, False, True]
    assert rejected_rows(index, q, 0.0, 0.0).tolist() == [True, False, True, True, False, True]
    assert not rejected_rows(index, q, 0.0, None).any()
    # min_dcr: row 4 is 0.025 away, row 1 0.2; copies are rejected whatever the tolerance
    assert rejected_rows(index, q, 0.1, 1.0).tolist() == [True, False, True, True, True, True]


def _guard(ref: pd.DataFrame, min_dcr: float = 0.0, tolerance=0.0, retries: int = 10) -> CopyGuard:
    return CopyGuard(table="t", index=NearestIndex.build(ref, KINDS, {"x": 10.0}),
                     min_dcr=min_dcr, tolerance=tolerance, setting="test", max_retries=retries)


def _generator(pool: pd.DataFrame):
    """Rows drawn from ``pool`` by seed (the same seed, the same rows), with an Arrow column."""
    def make(k: int, seed: int) -> pd.DataFrame:
        pick = np.random.default_rng(seed).integers(0, len(pool), k)
        rows = pool.iloc[pick].reset_index(drop=True)
        rows["d"] = pd.array([dt.date(2020, 1, 1 + int(i) % 28) for i in pick],
                             dtype=pd.ArrowDtype(pa.date32()))
        rows["n"] = pd.array(pick, dtype="Int64")
        return rows
    return make


def test_rejected_rows_are_generated_again_deterministically():
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "a", "b"]})
    pool = pd.DataFrame({"x": [1.0, 2.0, 3.0, 1.0, 7.0, 9.0, 9.0, 8.0],
                         "c": ["a", "a", "b", "b", "a", "b", "a", "b"]})
    make = _generator(pool)
    first = make(200, 5)
    guard = _guard(ref)
    assert guard.index.copies(first).sum() > 50
    out = without_close_rows(guard, first, lambda idx, s: make(len(idx), s), 5)
    assert len(out) == 200 and not guard.index.copies(out).any()
    assert list(out.dtypes) == list(first.dtypes)       # Arrow and nullable columns kept
    kept = ~guard.index.copies(first)
    assert out[kept].equals(first[kept])                # rows that were fine stay as they are
    again = without_close_rows(guard, make(200, 5), lambda idx, s: make(len(idx), s), 5)
    assert out.equals(again)
    assert ((guard.index.min_distance(first) > 0) & (guard.index.min_distance(first) < 0.2)).any()
    far = without_close_rows(_guard(ref, min_dcr=0.2), make(200, 5),
                             lambda idx, s: make(len(idx), s), 5)
    assert len(far) == 200 and (guard.index.min_distance(far) >= 0.2).all()


def test_a_sequence_with_a_rejected_row_is_generated_again_whole():
    ref = pd.DataFrame({"x": [1.0], "c": ["a"]})
    rows = pd.DataFrame({"x": [5.0, 1.0, 6.0, 7.0], "c": ["a", "a", "a", "a"]})
    groups = pd.Series(["g1", "g1", "g2", "g2"])
    seen = []

    def make(idx, seed):
        seen.append(list(idx))
        return pd.DataFrame({"x": [8.0] * len(idx), "c": ["a"] * len(idx)})

    out = without_close_rows(_guard(ref), rows, make, 1, groups)
    assert seen == [[0, 1]] and out["x"].tolist() == [8.0, 8.0, 6.0, 7.0]


def test_rows_that_cannot_be_made_far_enough_fail_naming_table_rows_and_setting():
    ref = pd.DataFrame({"x": [1.0], "c": ["a"]})
    rows = pd.DataFrame({"x": [1.0, 9.0, 1.0], "c": ["a", "b", "a"]})
    calls = []

    def make(idx, seed):
        calls.append(seed)
        return rows.iloc[idx].reset_index(drop=True)

    with pytest.raises(CopyRejectionError, match=r"Table 't': 2 of 3 generated rows .* exact "
                                                 r"copies .*exact_copy_tolerance=0 after 4"):
        without_close_rows(_guard(ref, retries=4), rows, make, 1)
    assert len(calls) == 4 and len(set(calls)) == 4     # a new seed each round
    with pytest.raises(CopyRejectionError, match="closer than minDCR=0.5"):
        without_close_rows(_guard(ref, min_dcr=0.5, retries=2), rows, make, 1)

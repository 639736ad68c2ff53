"""The executor-side chunk loop of a sequential table: a sequence (a run of one key) is never
split between two chunks, whatever the chunk size and the Arrow batches (ml/_generation.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.ml._generation import PART_COL, POS_COL, row_chunks


def _skeleton(sizes: list[int], part: int = 0) -> pd.DataFrame:
    keys = np.repeat(np.arange(len(sizes)), sizes)
    return pd.DataFrame({"k": keys, PART_COL: part, POS_COL: np.arange(len(keys))})


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
@pytest.mark.parametrize("batch", [2, 5, 1000])
def test_chunks_hold_whole_sequences(chunk, batch):
    rng = np.random.default_rng(chunk * 31 + batch)
    parts = [_skeleton(rng.integers(1, 12, 40).tolist(), part=p) for p in (0, 1)]
    rows = pd.concat(parts, ignore_index=True)
    batches = [rows.iloc[i:i + batch] for i in range(0, len(rows), batch)]
    pieces = list(row_chunks(iter(batches), chunk, None, "k"))
    seen = pd.concat([p for _, p, _, _ in pieces], ignore_index=True)
    pd.testing.assert_frame_equal(seen, rows)                  # every row once, in order
    for part, piece, pos, _ in pieces:
        assert (piece[PART_COL] == part).all()
        assert (np.diff(pos) == 1).all()                       # contiguous positions
        first, last = piece["k"].iloc[0], piece["k"].iloc[-1]
        same_part = rows[rows[PART_COL] == part]
        assert len(piece[piece["k"] == first]) == (same_part["k"] == first).sum()
        assert len(piece[piece["k"] == last]) == (same_part["k"] == last).sum()
    # the pieces depend on the rows alone, not on the batches they arrive in
    again = list(row_chunks(iter([rows]), chunk, None, "k"))
    assert [(p, int(q[0])) for p, _, q, _ in pieces] == [(p, int(q[0])) for p, _, q, _ in again]


def test_a_piece_made_of_several_batches_goes_back_to_arrow_as_one_array():
    # pandas 3 keeps strings in Arrow and concatenates them as a chunked array, which Spark's
    # mapInPandas cannot turn into a record batch: a piece spanning batches must not carry one
    import pyarrow as pa

    from synthohive_spark.ml._generation import PART_COL, POS_COL, aligned_pieces

    def batch(lo: int, hi: int) -> pd.DataFrame:
        return pd.DataFrame({PART_COL: 0, POS_COL: np.arange(lo, hi),
                             "name": pd.Series([f"n{i}" for i in range(lo, hi)],
                                               dtype=pd.StringDtype("pyarrow"))})

    pieces = list(aligned_pieces(iter([batch(0, 3), batch(3, 5), batch(5, 9)]), 100))
    assert len(pieces) == 1
    piece = pieces[0][1]
    assert piece["name"].tolist() == [f"n{i}" for i in range(9)]
    assert isinstance(pa.Array.from_pandas(piece["name"]), pa.Array)
    pa.RecordBatch.from_pandas(piece, preserve_index=False)  # what Spark does with the output


@pytest.mark.parametrize("batch", [3, 1000])
def test_a_partitions_last_sequence_is_not_a_sampling_call_of_its_own(batch):
    # a sequential model's call costs a step per row of its longest sequence: a partition that
    # fits in one chunk is one piece, its last sequence included
    rows = pd.concat([_skeleton([4, 2, 5, 3], part=0), _skeleton([1, 6], part=1)],
                     ignore_index=True)
    batches = [rows.iloc[i:i + batch] for i in range(0, len(rows), batch)]
    pieces = list(row_chunks(iter(batches), 100, None, "k"))
    assert [(part, len(piece)) for part, piece, _, _ in pieces] == [(0, 14), (1, 7)]
    # a partition over two chunks (positions 0-7, 8-13): the first chunk's last sequence (2, at
    # positions 6-10) goes on into the second, whose last sequence stays in it
    pieces = list(row_chunks(iter(batches), 8, None, "k"))
    assert [(part, piece["k"].unique().tolist()) for part, piece, _, _ in pieces] == [
        (0, [0, 1]), (0, [2, 3]), (1, [0, 1])]


def test_a_parents_value_is_drawn_from_parents_of_its_kind_and_of_about_as_many_children():
    """looked_up_targets: under one model, airline A's planes fly once and B's sixteen times;
    a generated plane with one flight is mostly A's, one with sixteen mostly B's; a model the
    table does not hold takes the values' shares over all the planes (a model saved without
    them: the first child's value); rows without a parent take the values of the real rows
    without one, and must then hold them too."""
    from synthohive_spark.ml._relational_gen import (SIZE_BINS, looked_up_targets,
                                                     parent_lookup, parent_targets)

    small, big = [0] * SIZE_BINS, [0] * SIZE_BINS
    small[0], big[8] = 50, 50  # bins of 1 and of 16 children
    spec = {"columns": ["carrier"], "given": "planes__model",
            "values": [["M1", ["A"], 50], ["M1", ["B"], 50]],
            "sizes": [[["A"], small], [["B"], big]]}
    lookup = parent_lookup(spec)
    assert lookup.free is None and lookup.overall is None and parent_lookup({}) is None
    sizes = [1] * 200 + [16] * 200
    parents = pd.Series(np.repeat(np.arange(400), sizes).astype(object))
    parents.iloc[-5:] = None  # rows without a parent
    n = len(parents)
    rows = pd.DataFrame({"carrier": ["Z"] * n})
    model = pd.Series(["M1"] * n)
    model.iloc[np.flatnonzero(parents.to_numpy() == 398)] = "M9"  # a model not in the table
    codes = pd.factorize(parents)[0]
    target, bound = parent_targets(rows, ["carrier"], codes)
    got, held = looked_up_targets(target, bound, codes, model, lookup, seed=3)
    assert lookup.given == "planes__model" and (held == bound).all()
    per = pd.DataFrame({"p": parents, "c": got["carrier"]})[bound].groupby("p")["c"]
    assert (per.nunique() == 1).all()
    first = per.first()
    assert (first.iloc[:200] == "A").mean() > 0.95 and (first.iloc[np.r_[200:398, 399]] == "B").mean() > 0.95
    assert first.loc[398] == "Z"
    assert (got["carrier"][~bound] == "Z").all()
    free = parent_lookup({**spec, "free": [[["Q"], 7]], "overall": [[["C"], 3], [["A"], 1]],
                          "sizes": [[["A"], small], [["B"], big], [["C"], big]]})
    got, held = looked_up_targets(target, bound, codes, model, free, seed=3)
    assert (got["carrier"][~bound] == "Q").all() and held.all()
    assert (got["carrier"][bound].to_numpy() != "Q").all()
    assert (got["carrier"][(parents == 398).to_numpy()] == "C").all()  # C: 3 of 4, and busy
    # no column of the parent explains them: every parent from the shares over all parents,
    # weighted by its size (a plane of one flight: A, C's are busy)
    alone = parent_lookup({"columns": ["carrier"], "overall": [[["C"], 3], [["A"], 1]],
                           "sizes": [[["A"], small], [["C"], big]]})
    got, _ = looked_up_targets(target.assign(carrier=None), bound, codes, None, alone, seed=4)
    first = pd.DataFrame({"p": parents, "c": got["carrier"]})[bound].groupby("p")["c"].first()
    assert (first.iloc[:200] == "A").mean() > 0.9 and (first.iloc[200:] == "C").mean() > 0.9

"""Spark-free cores of relational synthesis: schema graph, child-count model, degree model."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.errors import DegreeModelError
from synthohive_spark.examples import retail_metadata
from synthohive_spark.metadata import ForeignKey, Metadata, MetadataError
from synthohive_spark.relational import (CardinalityError, ChildCountModel, DegreeModel,
                                         SchemaGraph, SchemaGraphError, rank_to_index)


# ----------------------------------------------------------------------------- graph
def test_graph_orders_parents_before_children():
    g = SchemaGraph(retail_metadata())
    pos = {t: i for i, t in enumerate(g.order)}
    assert sorted(g.order) == sorted(retail_metadata().tables)
    for parent, child in [("customers", "orders"), ("employees", "orders"),
                          ("orders", "order_items"), ("products", "order_items")]:
        assert pos[parent] < pos[child]
    assert g.roots() == [t for t in g.order if t in ("customers", "products", "employees")]
    assert g.driver("orders").parent_table == "customers"
    assert [fk.column for fk in g.secondary_fks("orders")] == ["account_manager"]
    assert [fk.column for fk in g.secondary_fks("order_items")] == ["product_id"]
    assert [fk.column for fk in g.self_references("employees")] == ["reports_to"]
    assert g.key_columns("employees") == ["employee_id", "reports_to"]
    assert g.children("orders") == ["order_items"]
    # children means any foreign key, as in Metadata; generated_under only the driver keys
    assert g.children("employees") == ["orders"] == retail_metadata().children("employees")
    assert g.generated_under("employees") == []
    assert g.generated_under("customers") == ["orders"]
    assert g.generated_under("products") == []


def _two_tables() -> dict:
    return {"tables": {
        "a": {"primary_key": "id", "columns": {"id": {"sdtype": "id", "dtype": "bigint"},
                                                "b_id": {"sdtype": "id", "dtype": "bigint"}}},
        "b": {"primary_key": "id", "columns": {"id": {"sdtype": "id", "dtype": "bigint"},
                                                "a_id": {"sdtype": "id", "dtype": "bigint"},
                                                "x": {"sdtype": "numerical", "dtype": "double"}},
              "foreign_keys": [{"column": "a_id", "parent_table": "a", "parent_column": "id"}]},
    }}


def test_cycle_is_rejected_with_the_tables_named():
    data = _two_tables()
    data["tables"]["a"]["foreign_keys"] = [{"column": "b_id", "parent_table": "b",
                                            "parent_column": "id"}]
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    assert "cycle across tables: a -> b -> a" in str(err.value)
    # SchemaGraph checks on its own too (metadata mutated after validation)
    md = Metadata.from_dict(_two_tables())
    md.tables["a"].foreign_keys.append(ForeignKey(column="b_id", parent_table="b",
                                                  parent_column="id", driver=True))
    with pytest.raises(SchemaGraphError) as err:
        SchemaGraph(md)
    assert "cycle across tables: a -> b -> a" in str(err.value)


def test_reference_to_a_non_key_column_is_rejected():
    data = _two_tables()
    data["tables"]["a"]["columns"]["code"] = {"sdtype": "id", "dtype": "bigint", "unique": True}
    data["tables"]["b"]["foreign_keys"][0]["parent_column"] = "code"
    md = Metadata.from_dict(data)
    with pytest.raises(SchemaGraphError, match=r"table 'b', column 'a_id'.*primary key"):
        SchemaGraph(md)


def test_self_reference_cannot_drive():
    data = _two_tables()
    data["tables"]["a"]["foreign_keys"] = [{"column": "b_id", "parent_table": "a",
                                            "parent_column": "id", "driver": True}]
    with pytest.raises(MetadataError, match="self-reference cannot be the driver"):
        Metadata.from_dict(data)


# ----------------------------------------------------------------------------- child counts
def _parents(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    seg = rng.choice(["consumer", "corporate", "home"], size=n, p=[0.6, 0.3, 0.1])
    value = rng.normal(0, 1, n)
    lam = np.where(seg == "corporate", 6.0, np.where(seg == "home", 3.0, 1.0))
    lam = lam * np.where(value > 1.0, 2.0, 1.0)
    ctx = pd.DataFrame({"segment": seg, "value": value,
                        "since": pd.to_datetime("2020-01-01") + pd.to_timedelta(
                            rng.integers(0, 1000, n), unit="D")})
    return ctx, rng.poisson(lam)


def test_child_counts_follow_the_parent_attributes():
    ctx, counts = _parents(6000)
    m = ChildCountModel().fit(ctx, counts)
    test_ctx, test_counts = _parents(6000, seed=1)
    drawn = m.sample(test_ctx, seed=5)
    assert drawn.dtype == np.int64 and len(drawn) == len(test_ctx) and drawn.min() >= 0
    for seg in ("consumer", "corporate", "home"):
        sel = (test_ctx["segment"] == seg).to_numpy()
        assert drawn[sel].mean() == pytest.approx(test_counts[sel].mean(), rel=0.12)
    high = (test_ctx["value"] > 1.0).to_numpy()
    assert drawn[high].mean() > 1.5 * drawn[~high].mean()
    # zero children are learned too
    assert (drawn == 0).mean() == pytest.approx((test_counts == 0).mean(), abs=0.03)


def test_child_count_sampling_is_seeded_and_state_is_json():
    ctx, counts = _parents(2000)
    m = ChildCountModel(max_leaves=8).fit(ctx, counts)
    a = m.sample(ctx, seed=3)
    assert np.array_equal(a, m.sample(ctx, seed=3))
    assert not np.array_equal(a, m.sample(ctx, seed=4))
    state = json.loads(json.dumps(m.to_dict()))
    m2 = ChildCountModel.from_dict(state)
    assert np.array_equal(a, m2.sample(ctx, seed=3))
    assert len(state["histograms"]) <= 8


def test_child_counts_without_context_and_heavy_tail():
    rng = np.random.default_rng(0)
    counts = np.minimum(rng.zipf(1.8, 5000), 5000)
    m = ChildCountModel(max_bins=10).fit(None, counts)
    (hist,) = m.to_dict()["histograms"].values()
    assert len(hist) <= 10
    drawn = m.sample(None, seed=1, n=20000)
    assert drawn.max() <= counts.max()
    assert np.median(drawn) == pytest.approx(np.median(counts), abs=1)
    assert (drawn == 1).mean() == pytest.approx((counts == 1).mean(), abs=0.02)


def test_unseen_category_and_missing_values_are_routed():
    ctx, counts = _parents(500)
    m = ChildCountModel().fit(ctx, counts)
    odd = pd.DataFrame({"segment": ["martian", None], "value": [np.nan, 0.0],
                        "since": [pd.NaT, pd.Timestamp("2021-01-01")]})
    assert len(m.sample(odd, seed=0)) == 2


@pytest.mark.parametrize("counts, match", [
    (np.array([1, -1, 2]), "non-negative integers"),
    (np.array([1.5, 2.0, 1.0]), "non-negative integers"),
    (np.array([], dtype=int), "non-empty"),
])
def test_bad_counts_are_rejected(counts, match):
    with pytest.raises(CardinalityError, match=match):
        ChildCountModel().fit(None, counts)


def test_bad_state_and_missing_context_are_rejected():
    ctx, counts = _parents(300)
    m = ChildCountModel().fit(ctx, counts)
    with pytest.raises(CardinalityError, match="version"):
        ChildCountModel.from_dict({**m.to_dict(), "version": 99})
    with pytest.raises(CardinalityError, match="'segment' is missing"):
        m.sample(ctx.drop(columns=["segment"]), seed=0)
    with pytest.raises(CardinalityError, match="mismatch|one count per parent"):
        ChildCountModel().fit(ctx.iloc[:10], counts)


# ----------------------------------------------------------------------------- degrees
def _zipf_refs(n_parents: int, n_refs: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_parents + 1) ** 1.2
    w[n_parents // 2:] = 0.0        # half of the parents are never referenced
    return rng.permutation(n_parents)[rng.choice(n_parents, n_refs, p=w / w.sum())]


def _top_share(degrees: np.ndarray, frac: float) -> float:
    d = np.sort(degrees)[::-1]
    return d[:max(1, int(len(d) * frac))].sum() / d.sum()


def test_degree_distribution_is_kept_at_another_size():
    refs = _zipf_refs(400, 20000)
    real = np.bincount(refs, minlength=400)
    m = DegreeModel().fit(refs, n_parents=400, n_nulls=0)
    rng = np.random.default_rng(1)
    idx = m.sample_parents(rng, 100_000, n_parents=2000, seed=9)
    assert idx.min() >= 0 and idx.max() < 2000
    synth = np.bincount(idx, minlength=2000)
    assert _top_share(synth, 0.1) == pytest.approx(_top_share(real, 0.1), abs=0.05)
    assert (synth == 0).mean() == pytest.approx((real == 0).mean(), abs=0.05)
    # fitted from a degree histogram (what Spark computes) gives the same state
    vals, mult = np.unique(real, return_counts=True)
    m2 = DegreeModel().fit_runs(vals, mult, n_nulls=0)
    assert np.allclose(m2.to_dict()["mass"], m.to_dict()["mass"], atol=1e-9)


def test_degree_sampling_with_limits_and_nulls():
    m = DegreeModel(bins=10).fit_bin_mass([5, 3, 1, 0, 0, 0, 0, 0, 0, 0], n_parents=50,
                                          n_nulls=10, ordered=True)
    assert m.null_share == pytest.approx(10 / 19)
    rng = np.random.default_rng(0)
    pos = np.arange(1000)
    idx = m.sample_parents(rng, 1000, n_parents=1000, seed=0, limit=pos)
    assert idx[0] == -1                              # the first row has nobody before it
    assert np.all(idx[1:] < pos[1:]) and np.all(idx[1:] >= 0)
    assert (idx[500:] < 300).mean() > 0.95           # referenced rows are the early ones
    state = json.loads(json.dumps(m.to_dict()))
    again = DegreeModel.from_dict(state).sample_parents(np.random.default_rng(0), 1000, 1000, 0,
                                                         limit=pos)
    assert np.array_equal(idx, again)


def test_rank_to_index_is_a_seeded_bijection():
    for n in (1, 2, 3, 7, 1000, 4096, 4097, 100_003):
        out = rank_to_index(np.arange(n), n, seed=3)
        assert np.array_equal(np.sort(out), np.arange(n))
    assert not np.array_equal(rank_to_index(np.arange(100), 100, 1),
                              rank_to_index(np.arange(100), 100, 2))
    big = 2**40 + 17                                  # past 32 bits: still in range and distinct
    out = rank_to_index(np.arange(100_000), big, seed=5)
    assert out.min() >= 0 and out.max() < big and len(np.unique(out)) == len(out)
    # neighbouring inputs go to unrelated places (an affine map would step by a constant)
    out = rank_to_index(np.arange(100_000), 100_000, seed=5)
    steps = np.diff(out)
    assert len(np.unique(steps)) > 50_000             # an affine map: two distinct steps
    assert abs(np.corrcoef(out[:-1], out[1:])[0, 1]) < 0.02


def test_dealt_references_give_each_parent_its_share_to_within_one():
    refs = _zipf_refs(150, 20_000)
    real = np.bincount(refs, minlength=150)
    m = DegreeModel().fit(refs, n_parents=150, n_nulls=2_000)  # fewer parents than bins: exact
    total = 22_000
    idx = m.deal_parents(np.arange(total), total, n_parents=150, seed=4)
    assert (idx < 0).sum() == pytest.approx(2_000, abs=1)
    dealt = np.bincount(idx[idx >= 0], minlength=150)
    assert np.abs(np.sort(dealt) - np.sort(real)).max() <= 1
    drawn = np.bincount(m.sample_parents(np.random.default_rng(4), 20_000, 150, seed=4),
                        minlength=150)
    assert np.abs(np.sort(drawn) - np.sort(real)).max() > 10  # what independent draws give
    # ranks go to parents as sample_parents maps them with the same seed (a redraw agrees)
    top = np.argmax(dealt)
    assert np.argmax(np.bincount(m.sample_parents(np.random.default_rng(0), 50_000, 150, seed=4),
                                 minlength=150)) == top
    # ten times the rows and the parents: each real parent's count shared by ten
    big = m.deal_parents(np.arange(10 * total), 10 * total, n_parents=1_500, seed=4)
    dealt10 = np.sort(np.bincount(big[big >= 0], minlength=1_500))
    assert np.abs(dealt10 - np.repeat(np.sort(real), 10)).max() <= 1
    # a row depends on its position only: any split into chunks, in any order, the same keys
    cuts = [0, 1, 777, 5_000, 12_345, total]
    pieces = [(a, m.deal_parents(np.arange(a, b), total, 150, seed=4))
              for a, b in reversed(list(zip(cuts[:-1], cuts[1:])))]
    assert np.array_equal(np.concatenate([p for _, p in sorted(pieces, key=lambda t: t[0])]), idx)
    assert not np.array_equal(m.deal_parents(np.arange(total), total, 150, seed=5), idx)
    with pytest.raises(DegreeModelError, match=r"positions must lie in \[0, 22000\)"):
        m.deal_parents(np.array([0, total]), total, 150, seed=4)


def test_dealt_neighbours_are_not_neighbouring_ranks():
    m = DegreeModel(bins=10).fit_bin_mass([5, 3, 1, 1, 1, 1, 1, 1, 1, 1], n_parents=1_000,
                                          n_nulls=0, ordered=True)
    idx = m.deal_parents(np.arange(50_000), 50_000, n_parents=1_000, seed=1)
    assert abs(np.corrcoef(idx[:-1], idx[1:])[0, 1]) < 0.03
    assert np.bincount(idx // 100, minlength=10)[0] == pytest.approx(50_000 * 5 / 16, abs=1)




def test_child_counts_of_skewed_keys_keep_the_total_and_the_distribution() -> None:
    from synthohive_spark.relational.cardinality import ChildCountModel

    r = np.random.default_rng(7)
    owner = np.minimum(r.pareto(1.2, 2000).astype(int), 149)  # one parent holds half the children
    degrees = np.bincount(owner, minlength=150)
    model = ChildCountModel().fit(None, degrees)
    totals = np.array([model.sample(None, seed=s, n=150).sum() for s in range(200)])
    assert np.all(np.abs(totals - degrees.sum()) <= 0.02 * degrees.sum()), (totals.min(), totals.max())
    many = np.concatenate([model.sample(None, seed=s, n=1500) for s in range(20)])
    for value in (0, 1, int(degrees.max())):  # each count as often as in the real table
        want = np.mean(degrees == value)
        assert abs(np.mean(many == value) - want) < 0.01 + 0.2 * want, value
    first = model.sample(None, seed=3, n=150)
    assert np.array_equal(first, model.sample(None, seed=3, n=150))  # still deterministic per seed
    assert not np.array_equal(first, model.sample(None, seed=4, n=150))


# ----------------------------------------------------------------------------- read-only columns
@pytest.fixture
def copy_on_write():
    """pandas 3 semantics on pandas 2 as well: ``to_numpy()`` of a column (or of a lazy
    ``astype`` copy of it) is a read-only view of the column's data."""
    if int(pd.__version__.split(".")[0]) >= 3:
        yield
    else:
        with pd.option_context("mode.copy_on_write", True):
            yield


def _read_only(values, dtype=None) -> pd.Series:
    """A Series over a read-only array, as pandas 3 and Arrow batches (``mapInPandas``) give."""
    a = np.array(values, dtype=dtype)
    a.flags.writeable = False
    # dtype=object: pandas 3 would otherwise infer its "str" dtype for strings (a new array)
    return pd.Series(a, dtype=object if a.dtype == object else None, copy=False)


def _read_only_context(repeat: int = 1) -> pd.DataFrame:
    import datetime as dt

    columns = {
        "value": _read_only([1.0, np.nan, 3.0, np.inf, -np.inf, 2.0]),
        "count": _read_only([4, 2, 3, 1, 5, 6], dtype="int64"),
        "flag": _read_only([True, False, True, True, False, False]),
        "since": _read_only(["2020-01-02", "NaT", "2020-01-01", "2020-01-03", "NaT",
                             "2020-01-02"], dtype="datetime64[ns]"),
        "day": _read_only([dt.date(2020, 1, 2), None, dt.date(2020, 1, 1), None,
                           dt.date(2020, 1, 3), dt.date(2020, 1, 1)], dtype=object),
        "segment": _read_only(["a", "b", None, "a", "b", "a"], dtype=object),
    }
    return pd.DataFrame({c: _read_only(np.tile(s.to_numpy(), repeat), dtype=s.dtype)
                         for c, s in columns.items()}, copy=False)


def test_encode_context_of_read_only_columns_fills_missing_values_in_its_own_matrix(
        copy_on_write) -> None:
    from synthohive_spark.relational.cardinality import _fit_encoding, encode_context

    ctx = _read_only_context()
    before = {c: ctx[c].copy(deep=True) for c in ctx.columns}
    counts = np.array([1, 2, 3, 4, 5, 6])
    enc = _fit_encoding(ctx, counts, max_categories=50)
    x = encode_context(ctx, enc)  # raised "assignment destination is read-only" before
    assert x.dtype == np.float64 and x.shape == (6, 6) and x.flags.writeable
    by = {e["column"]: j for j, e in enumerate(enc)}
    fills = {e["column"]: e["fill"] for e in enc if "fill" in e}
    # non-finite values become the column's fill value (one below its smallest finite value)
    assert fills["value"] == 0.0
    assert x[:, by["value"]].tolist() == [1.0, 0.0, 3.0, 0.0, 0.0, 2.0]
    assert x[:, by["count"]].tolist() == [4.0, 2.0, 3.0, 1.0, 5.0, 6.0]
    assert x[:, by["flag"]].tolist() == [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    day0 = float(pd.Timestamp("2020-01-02").timestamp())
    assert x[:, by["since"]].tolist() == [day0, fills["since"], day0 - 86400, day0 + 86400,
                                          fills["since"], day0]
    assert fills["since"] == day0 - 86400 - 1
    o = float(pd.Timestamp("2020-01-01").toordinal())
    assert x[:, by["day"]].tolist() == [o + 1, fills["day"], o, fills["day"], o + 2, o]
    assert fills["day"] == o - 1
    assert np.isfinite(x).all()
    # the caller's columns are untouched (NaN, inf and NaT still there)
    for c in ctx.columns:
        pd.testing.assert_series_equal(ctx[c], before[c])
    assert np.isnan(ctx["value"].iloc[1]) and np.isinf(ctx["value"].iloc[3])


def test_child_count_model_fits_and_samples_read_only_parents(copy_on_write) -> None:
    ctx = _read_only_context(repeat=50)
    counts = np.where(ctx["segment"].to_numpy() == "a", 1, 5)
    counts.flags.writeable = False
    m = ChildCountModel().fit(ctx, counts)
    drawn = m.sample(ctx, seed=0)
    writable = pd.DataFrame({c: ctx[c].to_numpy().copy() for c in ctx})
    assert np.array_equal(drawn, ChildCountModel().fit(writable, counts.copy()).sample(writable,
                                                                                       seed=0))
    assert drawn[(ctx["segment"] == "a").to_numpy()].mean() < drawn[
        (ctx["segment"] == "b").to_numpy()].mean()
    assert np.isnan(ctx["value"].iloc[1])


def test_child_counts_of_an_arrow_batch(copy_on_write) -> None:
    """Spark's ``mapInPandas`` hands over columns converted from Arrow, zero-copy (read-only)."""
    import pyarrow as pa

    ctx, counts = _parents(600)
    ctx = ctx.assign(value=np.where(np.arange(600) % 7 == 0, np.nan, ctx["value"]))
    m = ChildCountModel().fit(ctx, counts)
    batch = pa.RecordBatch.from_pandas(ctx, preserve_index=False)
    arrow_ctx = pd.DataFrame({name: batch.column(i).to_pandas()
                              for i, name in enumerate(batch.schema.names)}, copy=False)
    assert np.array_equal(m.sample(arrow_ctx, seed=4), m.sample(ctx.copy(deep=True), seed=4))


def test_graph_algorithms_work_on_a_plain_mapping():
    from synthohive_spark.relational.graph import (find_cycle, strongly_connected_components,
                                                   topological_order)

    parents = {"a": set(), "b": {"a"}, "x": set(), "c": {"b", "c"}}
    assert topological_order(parents) == ["a", "b", "x", "c"]  # the earliest ready table next
    assert topological_order(parents, layers=True) == ["a", "x", "b", "c"]  # a generation a time
    cyclic = {"a": {"c"}, "b": {"a"}, "c": {"b"}, "d": {"a"}}
    assert topological_order(cyclic) == []
    assert [c for c in strongly_connected_components(cyclic) if len(c) > 1] == [["a", "b", "c"]]
    assert find_cycle({t: cyclic[t] for t in "abc"}) == ["a", "c", "b", "a"]


def test_context_columns_are_ranked_by_dependence_not_by_order():
    from synthohive_spark.relational.context import dependence, rank_context

    rng = np.random.default_rng(0)
    n = 3000
    parent = pd.DataFrame({
        "noise_a": rng.normal(size=n),                                   # first, unrelated
        "noise_b": rng.choice(["x", "y", "z"], n),
        "tier": rng.choice(["gold", "basic"], n),                         # drives the spend
        "signup": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
    })
    child = pd.DataFrame({
        "spend": np.where(parent["tier"] == "gold", 100.0, 10.0) + rng.normal(size=n),
        "at": parent["signup"] + pd.to_timedelta(rng.integers(0, 30, n), "D"),  # after signup
    })
    score = dependence(child, parent)
    assert score["tier"] > 0.9 and score["signup"] > 0.5
    assert score["noise_a"] < 0.1 and score["noise_b"] < 0.1
    assert rank_context(child, parent, 2) == ["tier", "signup"]      # parent's order kept
    assert rank_context(child, parent, 4) == list(parent.columns)

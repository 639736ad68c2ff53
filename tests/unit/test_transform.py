"""DataTransformer and column codecs: dtype-exact round trips, layouts, state, errors."""
from __future__ import annotations

import datetime as dt
import decimal
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthohive_spark.transform import ColumnCodec, DataTransformer, TransformError


def mixed_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    null = r.random(n) < 0.2
    df = pd.DataFrame({
        "i64": r.integers(-50, 100, n),
        "i32": r.integers(0, 7, n).astype("int32"),
        "i16": r.integers(0, 300, n).astype("int16"),
        "i8": r.integers(0, 5, n).astype("int8"),
        "I64": pd.array(np.where(null, None, r.integers(0, 10, n)), dtype="Int64"),
        "I32": pd.array(np.where(r.random(n) < 0.1, None, r.integers(0, 1000, n)), dtype="Int32"),
        "f64": np.where(null, np.nan, r.normal(5, 2, n)),
        "f32": r.normal(size=n).astype("float32"),
        "b": r.random(n) < 0.3,
        "B": pd.array(np.where(r.random(n) < 0.1, None, r.random(n) < 0.5), dtype="boolean"),
        "s": pd.Series(np.where(null, None, r.choice(["a", "bb", "c"], n)), dtype=object),
        "sdt": pd.Series(r.choice(["x", "y", "z"], n), dtype="string"),
        "ts": pd.to_datetime("2020-01-01") + pd.to_timedelta(r.integers(0, 1000, n), unit="D"),
        "ts_us": (pd.to_datetime("2021-03-01") + pd.to_timedelta(r.integers(0, 10**6, n), unit="s")
                  ).astype("datetime64[us]"),
        "ts_tz": (pd.to_datetime("2020-01-01") + pd.to_timedelta(r.integers(0, 10**5, n), unit="h")
                  ).tz_localize("UTC"),
        "date": pd.Series([dt.date(2020, 1, 1) + dt.timedelta(days=int(x)) for x in r.integers(0, 300, n)],
                          dtype=object),
        "dec": pd.Series([decimal.Decimal(f"{x:.2f}") for x in r.normal(100, 10, n)], dtype=object),
        "all_null": pd.Series([None] * n, dtype=object),
        "all_nan": np.full(n, np.nan),
        "const": np.full(n, 7),
        "const_s": pd.Series(["k"] * n, dtype=object),
    })
    df.loc[3, "date"] = None
    df.loc[5, "dec"] = None
    df.loc[7, "ts"] = pd.NaT
    return df


def _null_mask(s: pd.Series) -> np.ndarray:
    return np.asarray(s.isna(), dtype=bool)


def test_round_trip_every_column_kind() -> None:
    df = mixed_frame()
    t = DataTransformer(seed=1).fit(df)
    out = t.inverse_transform(t.transform(df))
    assert list(out.columns) == list(df.columns)
    assert (out.dtypes == df.dtypes).all(), out.dtypes[out.dtypes != df.dtypes]
    for c in df.columns:
        np.testing.assert_array_equal(_null_mask(out[c]), _null_mask(df[c]), err_msg=c)
    # categorical-like and integer columns come back exactly
    for c in ["i32", "i8", "I64", "b", "B", "s", "sdt", "const", "const_s", "all_null"]:
        assert out[c].astype(object).where(out[c].notna(), None).tolist() == \
            df[c].astype(object).where(df[c].notna(), None).tolist(), c
    # continuous: nearly all values close (mode-specific normalization clips at +-4 sd of a mode)
    close = np.isclose(out["f64"].to_numpy(), df["f64"].to_numpy(), rtol=1e-3, atol=1e-3, equal_nan=True)
    assert close.mean() > 0.97
    day_ok = (out["ts"] == df["ts"]) | (out["ts"].isna() & df["ts"].isna())
    assert day_ok.mean() > 0.97  # whole days come back as whole days
    assert (out["ts"].dropna().dt.normalize() == out["ts"].dropna()).all()
    assert str(out["ts_tz"].dt.tz) == "UTC" and out["ts_us"].dtype == np.dtype("datetime64[us]")
    assert all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in out["date"].dropna())
    decs = out["dec"].dropna()
    assert all(isinstance(v, decimal.Decimal) and v.as_tuple().exponent == -2 for v in decs)
    assert out.loc[5, "dec"] is None and out.loc[3, "date"] is None


def test_strings_with_nul_characters_stay_distinct_categories() -> None:
    # pandas hashes object strings as C strings: '' and '\x00' (or 'a' and 'a\x00b') collide there
    values = [""] * 30 + ["\x00", "a", "a\x00b", "a\x00c", None, "'a'"]
    df = pd.DataFrame({"s": values})
    t = DataTransformer().fit(df)
    assert sorted(t.codecs[0].categories) == sorted(v for v in set(values) if v is not None)
    out = t.inverse_transform(t.transform(df, np.random.default_rng(0)))
    # pandas 3 reads these strings as its "str" dtype, whose missing value is NaN (not None)
    assert out["s"].dtype == df["s"].dtype
    assert [None if pd.isna(v) else v for v in out["s"]] == values
    restored = DataTransformer.from_state(json.loads(json.dumps(t.to_state())))
    np.testing.assert_array_equal(restored.transform(df, np.random.default_rng(0)),
                                  t.transform(df, np.random.default_rng(0)))


def test_high_cardinality_is_embedded_not_one_hot() -> None:
    r = np.random.default_rng(0)
    cats = np.array([f"id_{i:05d}" for i in range(5000)])
    df = pd.DataFrame({"hc": np.concatenate([cats, r.choice(cats, 1000)]), "x": r.normal(size=6000)})
    t = DataTransformer(max_onehot=50).fit(df)
    spans = t.spans_of("hc")
    assert len(spans) == 1 and spans[0].activation == "embedding" and spans[0].n_categories == 5000
    assert t.output_width < 20
    out = t.inverse_transform(t.transform(df))
    assert out["hc"].tolist() == df["hc"].tolist()


def test_small_categorical_is_one_hot_with_null_category() -> None:
    df = pd.DataFrame({"c": ["a", None, "b", "a"]})
    t = DataTransformer().fit(df)
    (span,) = t.spans_of("c")
    assert span.activation == "softmax" and span.width == 3
    m = t.transform(df)
    assert m.sum(axis=1).tolist() == [1.0] * 4


def test_state_is_json_and_restores_the_same_encoding() -> None:
    df = mixed_frame(200, seed=3)
    t = DataTransformer(seed=5).fit(df)
    state = json.loads(json.dumps(t.to_state(), allow_nan=False))
    t2 = DataTransformer.from_state(state)
    assert t2.spans == t.spans
    m1 = t.transform(df, np.random.default_rng(0))
    m2 = t2.transform(df, np.random.default_rng(0))
    np.testing.assert_array_equal(m1, m2)
    pd.testing.assert_frame_equal(t.inverse_transform(m1), t2.inverse_transform(m1))


def test_column_specs_constraints() -> None:
    r = np.random.default_rng(1)
    df = pd.DataFrame({"x": r.normal(50, 30, 500), "code": r.integers(0, 4, 500), "p": r.normal(size=500)})
    specs = {"x": {"sdtype": "numerical", "min": 0, "max": 60}, "code": {"sdtype": "categorical"},
             "p": {"decimals": 1}}
    t = DataTransformer(column_specs=specs).fit(df)
    assert t.spans_of("code")[0].role == "category"
    wide = np.random.default_rng(2).uniform(-1, 1, (300, t.output_width)).astype(np.float32)
    out = t.inverse_transform(wide)
    assert out["x"].between(0, 60).all()
    assert set(out["code"]) <= {0, 1, 2, 3} and out["code"].dtype == df["code"].dtype
    assert np.allclose(out["p"], out["p"].round(1))


def test_inverse_of_arbitrary_scores_keeps_integers_and_ranges() -> None:
    df = mixed_frame(300, seed=2)
    t = DataTransformer().fit(df)
    scores = np.random.default_rng(9).normal(size=(500, t.output_width)).astype(np.float32)
    out = t.inverse_transform(scores)
    assert (out.dtypes == df.dtypes).all()
    assert out["i64"].between(df["i64"].min(), df["i64"].max()).all()
    assert set(out["s"].dropna()) <= {"a", "bb", "c"}
    assert out["all_null"].isna().all() and (out["const"] == 7).all()


@pytest.mark.parametrize("bad", [
    pd.Series([{"a": 1}, {"b": 2}], dtype=object),
    pd.Series([[1, 2], [3]], dtype=object),
    pd.Series([b"x", b"y"], dtype=object),
])
def test_unsupported_values_name_the_column(bad: pd.Series) -> None:
    df = pd.DataFrame({"ok": [1, 2], "weird": bad})
    with pytest.raises(TransformError, match="'weird'"):
        DataTransformer().fit(df)


def test_infinite_values_fail_clearly() -> None:
    with pytest.raises(TransformError, match="'x'.*infinite"):
        DataTransformer().fit(pd.DataFrame({"x": [1.0, np.inf, 2.0]}))


def test_empty_frames_fail_clearly() -> None:
    with pytest.raises(TransformError, match="no rows"):
        DataTransformer().fit(pd.DataFrame({"a": pd.Series([], dtype="int64")}))
    with pytest.raises(TransformError, match="no columns"):
        DataTransformer().fit(pd.DataFrame(index=range(3)))


def test_bad_specs_and_missing_columns_fail_clearly() -> None:
    df = pd.DataFrame({"s": ["a", "b"], "x": [1.0, 2.0]})
    with pytest.raises(TransformError, match="'s'.*numerical"):
        DataTransformer(column_specs={"s": {"sdtype": "numerical"}}).fit(df)
    with pytest.raises(TransformError, match="unknown sdtype"):
        DataTransformer(column_specs={"x": {"sdtype": "money"}}).fit(df)
    t = DataTransformer().fit(df)
    with pytest.raises(TransformError, match=r"\['x'\]"):
        t.transform(df[["s"]])


def test_codec_unseen_category_code() -> None:
    codec = ColumnCodec.fit("c", pd.Series(["a", "b", None], dtype=object))
    assert codec.categories == ["a", "b"] and codec.has_null
    assert codec.codes(pd.Series(["b", "zzz", None], dtype=object)).tolist() == [1, -1, 2]
    assert codec.from_codes(np.array([1, 0, 2, -1])).tolist() == ["b", "a", None, None]


def test_read_only_columns_are_encoded_without_being_written() -> None:
    """pandas 3 (Copy-on-Write) and Arrow batches in ``mapInPandas`` give columns over read-only
    arrays: encoding fills missing values in its own arrays, never in the column's data."""
    df = mixed_frame(200)
    cols = {}
    for c in df.columns:
        if isinstance(df[c].dtype, np.dtype):
            a = df[c].to_numpy().copy()
            a.flags.writeable = False
            cols[c] = pd.Series(a, dtype=df[c].dtype, copy=False)
        else:
            cols[c] = df[c]
    ro = pd.DataFrame(cols, copy=False)
    before = ro.copy(deep=True)
    t = DataTransformer(seed=1).fit(ro)
    matrix = t.transform(ro)
    matrix.flags.writeable = False
    np.testing.assert_array_equal(matrix, DataTransformer(seed=1).fit(before).transform(before))
    out = t.inverse_transform(matrix)
    pd.testing.assert_frame_equal(ro, before)
    for c in ro.columns:
        np.testing.assert_array_equal(_null_mask(out[c]), _null_mask(ro[c]), err_msg=c)


# ----------------------------------------------------------------------------- property tests
_KINDS = ["int", "float", "str", "bool", "Int64", "boolean", "datetime"]


@st.composite
def random_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    kinds = draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=5))
    cols = {}
    for i, kind in enumerate(kinds):
        nulls = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        if kind == "int":
            vals = draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n))
            cols[f"c{i}"] = np.asarray(vals, dtype=np.int64)
        elif kind == "float":
            vals = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
            cols[f"c{i}"] = np.where(nulls, np.nan, vals)
        elif kind == "str":
            vals = draw(st.lists(st.text(max_size=4), min_size=n, max_size=n))
            cols[f"c{i}"] = pd.Series([None if z else v for v, z in zip(vals, nulls)], dtype=object)
        elif kind == "bool":
            cols[f"c{i}"] = np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        elif kind == "Int64":
            vals = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))
            cols[f"c{i}"] = pd.array([None if z else v for v, z in zip(vals, nulls)], dtype="Int64")
        elif kind == "boolean":
            vals = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            cols[f"c{i}"] = pd.array([None if z else v for v, z in zip(vals, nulls)], dtype="boolean")
        else:
            vals = draw(st.lists(st.integers(0, 10**5), min_size=n, max_size=n))
            ts = pd.to_datetime("2000-01-01") + pd.to_timedelta(vals, unit="h")
            cols[f"c{i}"] = pd.Series(ts).where(~np.asarray(nulls))
    return pd.DataFrame(cols)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_frames())
def test_property_transform_inverse_round_trip(df: pd.DataFrame) -> None:
    t = DataTransformer(max_modes=3, gmm_sample_size=200).fit(df)
    out = t.inverse_transform(t.transform(df))
    assert list(out.columns) == list(df.columns)
    assert (out.dtypes == df.dtypes).all()
    for c in df.columns:
        np.testing.assert_array_equal(_null_mask(out[c]), _null_mask(df[c]), err_msg=c)
        codec = t.codecs[t.columns.index(c)]
        if codec.kind == "categorical" or df[c].dtype.kind in "b":
            assert out[c].astype(object).where(out[c].notna(), None).tolist() == \
                df[c].astype(object).where(df[c].notna(), None).tolist(), c
        if str(df[c].dtype) in ("int64", "Int64"):
            lo, hi = df[c].min(), df[c].max()
            assert out[c].dropna().between(lo, hi).all()


def test_arrow_output_of_string_categories_equals_the_object_output() -> None:
    from synthohive_spark.transform.columns import ColumnCodec

    r = np.random.default_rng(4)
    strings = pd.Series(np.where(r.random(500) < 0.2, None, r.choice(["a", "b\x00c", "", "é"], 500)),
                        dtype=object)
    mixed = pd.Series(r.choice(np.array(["x", 3, 4.5], dtype=object), 500), dtype=object)
    for series in (strings, mixed):
        codec = ColumnCodec.fit("c", series)
        codes = codec.codes(series)
        plain = codec.from_codes(codes)
        codec.arrow_output = True
        arrow = codec.from_codes(codes)
        codec.arrow_output = False
        assert plain.dtype == object
        assert isinstance(arrow.dtype, pd.ArrowDtype) is (series is strings)
        as_objects = arrow.astype(object).where(arrow.notna(), None).tolist()
        assert as_objects == plain.where(plain.notna(), None).tolist()
        assert as_objects == series.where(series.notna(), None).tolist()

"""A fake date of birth that agrees with its row (privacy/birth_dates.py, and its use when the
PII columns of a generated row are made: ml/_generation.pii_frame)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.privacy import generate_pii, infer_format
from synthohive_spark.privacy.birth_dates import anchor_birth_dates, birth_anchors


def _patients(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Visits of patients: the birth date (PII), the visit, the age at the visit in whole years,
    the birth year and month, and a number that has nothing to do with the birth date."""
    rng = np.random.default_rng(seed)
    born = [dt.date(1930, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 25_000, n)]
    seen = [dt.date(2015, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 3_000, n)]
    age = [s.year - b.year - ((s.month, s.day) < (b.month, b.day)) for s, b in zip(seen, born)]
    return pd.DataFrame({"born": born, "visit": seen, "age": np.asarray(age, dtype="int64"),
                         "birth_year": np.asarray([b.year for b in born], dtype="int64"),
                         "birth_month": np.asarray([b.month for b in born], dtype="int64"),
                         "weight": np.round(rng.normal(75, 12, n), 1)})


def _agrees(born: pd.Series, frame: pd.DataFrame) -> pd.Series:
    b, v = pd.to_datetime(born), pd.to_datetime(frame["visit"])
    age = v.dt.year - b.dt.year - ((v.dt.month * 100 + v.dt.day) < (b.dt.month * 100 + b.dt.day))
    return (age == frame["age"]) & (b.dt.year == frame["birth_year"]) & (
        b.dt.month == frame["birth_month"])


def _fitted(as_text: bool) -> tuple[dict, list[dict]]:
    """The birth date's format and anchors on the real rows (its values as dates or as text
    written day first)."""
    real = _patients()
    values = real["born"].map(lambda d: d.strftime("%d/%m/%Y")) if as_text else real["born"]
    fmt = infer_format("date_of_birth", values)
    return fmt, birth_anchors("born", values, real.drop(columns="born"), fmt)


@pytest.mark.parametrize("as_text", [False, True])
def test_the_numbers_a_real_birth_date_gives_in_its_row_are_found(as_text):
    _, anchors = _fitted(as_text)
    found = {a["column"]: (a["op"], a["unit"]) for a in anchors}
    assert found == {"age": ("span", "whole years"), "birth_year": ("part", "year"),
                     "birth_month": ("part", "month")}
    assert all(a["left"] == "visit" for a in anchors if a["op"] == "span")
    assert "1930" not in repr(anchors) and "weight" not in repr(anchors)  # no value kept


@pytest.mark.parametrize("as_text", [False, True])
def test_fakes_are_drawn_within_the_generated_age_and_birth_year(as_text):
    fmt, anchors = _fitted(as_text)
    # generated rows: the visit, the age and the birth year a model drew (here from other real
    # rows, so that the age and the birth year usually fit the visit), a month drawn apart
    gen = _patients(800, seed=1).drop(columns="born")
    gen["birth_month"] = np.random.default_rng(2).integers(1, 13, len(gen))
    fake = generate_pii("date_of_birth", len(gen), 5, "en_US", fmt)
    layout = "%d/%m/%Y" if as_text else None
    assert fmt.get("date_format") == "%d/%m/%Y" or not as_text  # day first, as the real ones
    # drawn apart: nearly every row contradicts itself
    assert _agrees(pd.to_datetime(fake, format=layout), gen).mean() < 0.05
    born, parts = anchor_birth_dates(fake, anchors, {c: gen[c].to_numpy() for c in gen},
                                     np.random.default_rng(0), fmt)
    assert set(parts) == {"age", "birth_year", "birth_month"}
    if as_text:
        assert born.map(lambda v: isinstance(v, str) and v[2] == "/").all()
    else:
        assert born.map(lambda v: type(v) is dt.date).all()
    out = gen.assign(**{c: v.to_numpy() for c, v in parts.items()})
    dates = pd.to_datetime(born, format=layout)
    assert _agrees(dates, out).all()
    # the age and the birth year the model drew are kept (its months are not: recomputed)
    assert (out["age"] == gen["age"]).all() and (out["birth_year"] == gen["birth_year"]).all()
    assert out["age"].dtype == gen["age"].dtype
    assert dates.nunique() > 600  # still drawn, not one day per age


def test_an_age_in_years_of_365_25_days_and_missing_values():
    rng = np.random.default_rng(4)
    n = 900
    born = pd.Series(pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 20_000, n), "D"))
    seen = pd.Series(pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 3_000, n), "D"))
    seen[rng.random(n) < 0.1] = pd.NaT  # no visit, no age
    age = ((seen - born).dt.days / 365.25).round(6)
    real = pd.DataFrame({"accepted": seen, "age": age})
    anchors = birth_anchors("dob", born.dt.date, real, None)
    assert [(a["column"], a["unit"]) for a in anchors] == [("age", "years of 365.25 days")]
    gen_age = np.round(rng.uniform(20, 70, n), 6)
    gen_age[seen.isna().to_numpy()] = np.nan
    fake = pd.Series([dt.date(1960, 1, 1)] * n, dtype=object)
    fake[::50] = None  # the column's own missing values stay missing
    out, parts = anchor_birth_dates(fake, anchors, {"accepted": seen.to_numpy(), "age": gen_age},
                                    np.random.default_rng(1))
    assert out.isna().tolist() == fake.isna().tolist()
    days = (seen - pd.to_datetime(out)).dt.days
    ok = out.notna().to_numpy() & seen.notna().to_numpy()
    new_age = parts["age"].to_numpy()
    assert np.allclose(new_age[ok], np.round(days[ok] / 365.25, 6))
    assert np.abs(new_age[ok] - gen_age[ok]).max() <= 1 / 365.25  # the nearest day's age
    # no visit, no age: nothing to agree with, the fake stays as drawn
    assert (out[seen.isna().to_numpy()].dropna() == dt.date(1960, 1, 1)).all()


def test_a_generated_row_gets_a_birth_date_that_agrees_with_it():
    from synthohive_spark.ml._generation import pii_frame

    real = _patients()
    fmt = infer_format("date_of_birth", real["born"])
    spec = {"kind": "date_of_birth", "fmt": fmt, "spark_type": "date", "null_share": 0.0,
            "anchors": birth_anchors("born", real["born"], real.drop(columns="born"), fmt)}
    gen = _patients(500, seed=3).drop(columns="born")
    columns = {c: gen[c].array for c in gen}
    made = pii_frame([("born", spec)], len(gen), lambda _c: 11, columns)
    assert set(made) == {"born", "age", "birth_year", "birth_month"}
    out = gen.assign(**{c: v.to_numpy() for c, v in made.items() if c != "born"})
    assert _agrees(made["born"], out).all()
    again = pii_frame([("born", spec)], len(gen), lambda _c: 11, columns)
    assert again["born"].tolist() == made["born"].tolist()  # seeded like every PII column

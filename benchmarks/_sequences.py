"""Sequence metrics of the child tables that are sequences per parent (pure pandas/numpy/scipy):
storms' observations (per storm, ordered by ``observed_at``) and gapminder's years (per country,
ordered by ``year``).

``sequence_metrics(dataset, real_tables, synth_tables)`` returns a dict of floats; pass the real
tables as ``synth_tables`` for the real data's own values (the KS complements are then 1.0).
Child rows are linked to their sequence by the FK column alone (a parent table is not needed, so
the output of a single-table sequence model scores the same way); rows may come in any order and
are sorted by (FK, order column), ties kept in input order. Rows with a null FK or a null or
unparsable order value belong to no sequence and are left out. Within a sequence, a pair of
consecutive rows with a null in the measured column is left out of that metric, except where
said otherwise below (status-wind consistency and status transitions count a null as a miss).

storms (``observations``):

* ``median_step_km``: median great-circle (haversine) distance between consecutive positions
  (lat, long) of a storm; ``step_ratio``: that median over the real one (target 0.75-1.25);
* ``six_hour_share``: share of consecutive observations 6 hours apart (a step that rounds to 6 h,
  i.e. within 30 minutes of it; the real data is on whole hours);
* ``wind_change_ks``: 1 - KS statistic of the consecutive wind differences (pooled over storms)
  against the real ones;
* ``status_wind_share``: share of rows whose wind lies in their status's real wind interval (for
  each real status, the central interval holding 98% of its real rows: its 1st to 99th
  percentile); a null status or wind, or a status the real data lacks, is outside;
* ``status_transition_share``: share of consecutive status pairs (same status included) that occur
  in the real data; a pair with a null is not one of them. That share is lenient (most pairs
  keep their status, and the real data has 55 distinct pairs), so also
  ``status_pairs_tv``: 1 - total variation distance between the real and the synthetic
  frequencies of consecutive status pairs (nulls as a value of their own; the real data changes
  status in 12% of its steps, a storm whose statuses are shuffled in 59%).

gapminder (``years``):

* ``lifeexp_change_ks``: 1 - KS statistic of the consecutive lifeExp differences of a country
  (pooled) against the real ones;
* ``five_year_share``: share of consecutive rows of a country 5 years apart (the real data's
  cadence, 1952-2007).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: dataset -> (child table, sequence key = FK column, order column)
SEQUENCES: dict[str, tuple[str, str, str]] = {
    "storms": ("observations", "storm_id", "observed_at"),
    "gapminder": ("years", "country", "year"),
}

#: the metrics of each dataset, in print order: (key, column header, format)
METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "storms": (("median_step_km", "median step km", ".1f"),
               ("step_ratio", "step / real", ".2f"),
               ("six_hour_share", "6 h steps", ".3f"),
               ("wind_change_ks", "wind change KS compl.", ".3f"),
               ("status_wind_share", "status-wind consistent", ".3f"),
               ("status_transition_share", "status pairs seen in real", ".3f"),
               ("status_pairs_tv", "status pair freq. TV compl.", ".3f")),
    "gapminder": (("lifeexp_change_ks", "lifeExp change KS compl.", ".3f"),
                  ("five_year_share", "5-year steps", ".3f")),
}

EARTH_RADIUS_KM = 6371.0088


def ordered(df: pd.DataFrame, key: str, order: str, datetime_order: bool) -> pd.DataFrame:
    """Rows of ``df`` with a sequence key and an order value, sorted by (key, order), ties in
    input order; the order column parsed (datetime, or numeric)."""
    out = df.copy()
    if datetime_order:
        o = pd.to_datetime(out[order], errors="coerce")
        if getattr(o.dt, "tz", None) is not None:
            o = o.dt.tz_localize(None)
        out[order] = o.astype("datetime64[ns]")
    else:
        out[order] = pd.to_numeric(out[order], errors="coerce").astype("float64")
    out = out[out[key].notna() & out[order].notna()]
    return out.sort_values([key, order], kind="mergesort").reset_index(drop=True)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("float64")


def consecutive(df: pd.DataFrame, key: str, col: str) -> tuple[pd.Series, pd.Series]:
    """(previous value, value) of each row that has a predecessor in its sequence (``df`` sorted
    by key then order)."""
    same = df[key].eq(df[key].shift(1))
    return df[col].shift(1)[same], df[col][same]


def diffs(df: pd.DataFrame, key: str, col: str) -> np.ndarray:
    """Consecutive differences of numeric ``col`` within each sequence, nulls left out."""
    v = _num(df[col])
    prev, cur = consecutive(df.assign(**{col: v}), key, col)
    d = (cur - prev).to_numpy(dtype="float64")
    return d[np.isfinite(d)]


def ks_complement(real: np.ndarray, synth: np.ndarray) -> float:
    """1 - the two-sample KS statistic (SDMetrics' KSComplement); 0 when ``synth`` is empty,
    nan when ``real`` is."""
    from scipy.stats import ks_2samp

    if len(real) == 0:
        return float("nan")
    if len(synth) == 0:
        return 0.0
    return float(1.0 - ks_2samp(real, synth).statistic)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(x, dtype="float64"))
                              for x in (lat1, lon1, lat2, lon2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def steps_km(df: pd.DataFrame, key: str) -> np.ndarray:
    """Great-circle distance between consecutive positions of each storm (nulls left out)."""
    df = df.assign(lat=_num(df["lat"]), long=_num(df["long"]))
    plat, lat = consecutive(df, key, "lat")
    plon, lon = consecutive(df, key, "long")
    d = haversine_km(plat, plon, lat, lon)
    return d[np.isfinite(d)]


def step_share(df: pd.DataFrame, key: str, order: str, step: Any, tol: Any) -> float:
    """Share of consecutive rows whose order values are ``step`` apart (within ``tol``)."""
    prev, cur = consecutive(df, key, order)
    if len(cur) == 0:
        return float("nan")
    return float(((cur - prev - step).abs() <= tol).mean())


def _share(mask: pd.Series | np.ndarray) -> float:
    return float(np.mean(mask)) if len(mask) else float("nan")


def wind_intervals(real_obs: pd.DataFrame, coverage: float = 0.98) -> dict[str, tuple[float, float]]:
    """For each real status, the central wind interval that holds ``coverage`` of its rows."""
    lo, hi = (1 - coverage) / 2, 1 - (1 - coverage) / 2
    w = _num(real_obs["wind"])
    out = {}
    for status, g in w.groupby(real_obs["status"].astype(object)):
        g = g.dropna()
        if len(g):
            out[str(status)] = (float(g.quantile(lo)), float(g.quantile(hi)))
    return out


def status_wind_share(obs: pd.DataFrame, intervals: dict[str, tuple[float, float]]) -> float:
    st = obs["status"].astype(object)
    w = _num(obs["wind"])
    lo = st.map(lambda s: intervals.get(str(s), (np.nan, np.nan))[0] if pd.notna(s) else np.nan)
    hi = st.map(lambda s: intervals.get(str(s), (np.nan, np.nan))[1] if pd.notna(s) else np.nan)
    ok = (w >= lo.astype("float64")) & (w <= hi.astype("float64"))  # a nan anywhere: False
    return _share(ok.to_numpy())


def status_pairs(obs: pd.DataFrame, key: str) -> pd.DataFrame:
    prev, cur = consecutive(obs.assign(status=obs["status"].astype(object)), key, "status")
    return pd.DataFrame({"prev": prev.to_numpy(), "cur": cur.to_numpy()})


def status_transition_share(obs: pd.DataFrame, key: str, seen: set[tuple[str, str]]) -> float:
    p = status_pairs(obs, key)
    ok = [pd.notna(a) and pd.notna(b) and (str(a), str(b)) in seen
          for a, b in zip(p["prev"], p["cur"])]
    return _share(np.asarray(ok, dtype=bool))


def status_pairs_tv(real_obs: pd.DataFrame, obs: pd.DataFrame, key: str) -> float:
    """1 - total variation distance of the consecutive status pairs' frequencies."""
    def freq(o: pd.DataFrame) -> pd.Series:
        p = status_pairs(o, key).fillna("<null>").astype(str)
        return (p["prev"] + " -> " + p["cur"]).value_counts(normalize=True)

    a, b = freq(real_obs), freq(obs)
    if len(b) == 0:
        return float("nan")
    return float(1.0 - 0.5 * a.subtract(b, fill_value=0.0).abs().sum())


def storms_metrics(real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame]) -> dict[str, float]:
    table, key, order = SEQUENCES["storms"]
    r = ordered(real[table], key, order, datetime_order=True)
    s = ordered(synth[table], key, order, datetime_order=True)
    real_step = float(np.median(steps_km(r, key)))
    st = steps_km(s, key)
    step = float(np.median(st)) if len(st) else float("nan")
    rp = status_pairs(r, key).dropna()
    seen = {(str(a), str(b)) for a, b in zip(rp["prev"], rp["cur"])}
    return {
        "median_step_km": step,
        "step_ratio": step / real_step if real_step else float("nan"),
        "six_hour_share": step_share(s, key, order, pd.Timedelta(hours=6),
                                     pd.Timedelta(minutes=30)),
        "wind_change_ks": ks_complement(diffs(r, key, "wind"), diffs(s, key, "wind")),
        "status_wind_share": status_wind_share(s, wind_intervals(r)),
        "status_transition_share": status_transition_share(s, key, seen),
        "status_pairs_tv": status_pairs_tv(r, s, key),
    }


def gapminder_metrics(real: dict[str, pd.DataFrame],
                      synth: dict[str, pd.DataFrame]) -> dict[str, float]:
    table, key, order = SEQUENCES["gapminder"]
    r = ordered(real[table], key, order, datetime_order=False)
    s = ordered(synth[table], key, order, datetime_order=False)
    return {
        "lifeexp_change_ks": ks_complement(diffs(r, key, "lifeExp"), diffs(s, key, "lifeExp")),
        "five_year_share": step_share(s, key, order, 5.0, 0.5),
    }


def sequence_metrics(dataset: str, real_tables: dict[str, pd.DataFrame],
                     synth_tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The sequence metrics of ``dataset`` ('storms' or 'gapminder') of ``synth_tables`` against
    ``real_tables``; only the child table (``SEQUENCES[dataset][0]``) is read."""
    if dataset == "storms":
        return storms_metrics(real_tables, synth_tables)
    if dataset == "gapminder":
        return gapminder_metrics(real_tables, synth_tables)
    raise ValueError(f"no sequence metrics for {dataset!r} (storms, gapminder)")


def _sanity() -> None:
    """Real against itself, and against copies broken on purpose: the metrics must see it."""
    import sys
    import os

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "shared", "datasets"))
    import realdata

    rng = np.random.default_rng(0)
    for dataset in ("storms", "gapminder"):
        real, _ = getattr(realdata, dataset)()
        table, key, order = SEQUENCES[dataset]
        child = real[table]
        print(f"{dataset} real vs real: {sequence_metrics(dataset, real, real)}")
        # rows in a random order, and the dtypes Spark's toPandas / parquet give: same metrics
        perm = child.sample(frac=1.0, random_state=1).reset_index(drop=True)
        if dataset == "storms":
            perm[order] = perm[order].astype("datetime64[us]")
        print(f"{dataset} rows permuted: {sequence_metrics(dataset, real, {table: perm})}")
        # the values shuffled within each sequence (order column kept in place): the sequence is
        # broken, the marginals and the per-parent sets of values are not
        shuf = child.copy()
        cols = [c for c in child.columns if c not in (key, order)]
        idx = shuf.groupby(key).indices
        for rows in idx.values():
            p = rng.permutation(rows)
            shuf.loc[shuf.index[rows], cols] = child.iloc[p][cols].to_numpy()
        print(f"{dataset} shuffled within sequences: "
              f"{sequence_metrics(dataset, real, {table: shuf})}")
        # nulls in the key, the order and the measured columns must not break anything
        nul = child.copy().astype(object)
        nul.loc[nul.sample(frac=0.05, random_state=2).index, key] = None
        nul.loc[nul.sample(frac=0.05, random_state=3).index, order] = None
        for c in cols:
            nul.loc[nul.sample(frac=0.05, random_state=4).index, c] = None
        print(f"{dataset} 5% nulls: {sequence_metrics(dataset, real, {table: nul})}")
        if dataset == "storms":
            # wind permuted over the whole table: status no longer follows the wind
            wind = child.copy()
            wind["wind"] = rng.permutation(wind["wind"].to_numpy())
            print(f"storms wind permuted over all rows: "
                  f"{sequence_metrics(dataset, real, {table: wind})}")
        # the order column drawn per row, uniformly within its sequence's real span and rounded
        # to the data's unit (whole hours, whole years), as a model without sequences would:
        # the cadence is lost and consecutive rows jump
        redraw = child.copy()
        if dataset == "storms":
            t = redraw[order].astype("int64") // 10**9
            lo, hi = t.groupby(redraw[key]).transform("min"), t.groupby(redraw[key]).transform("max")
            secs = lo + rng.uniform(0, 1, len(t)) * (hi - lo)
            redraw[order] = pd.to_datetime((secs // 3600 * 3600).astype("int64"), unit="s")
        else:
            redraw[order] = np.round(rng.uniform(1952, 2007, len(redraw))).astype("int64")
        print(f"{dataset} order column redrawn per row: "
              f"{sequence_metrics(dataset, real, {table: redraw})}")

if __name__ == "__main__":
    _sanity()

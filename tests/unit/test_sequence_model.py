"""SequenceModel (models/sequence.py): rows of one parent generated as a sequence."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.models import SequenceModel, create_model, model_from_blobs, model_to_blobs
from synthohive_spark.models.sequence import _bins, _assign, _runs


def _tracks(n_parents: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Parents of two kinds; each has a track of 4-12 rows: a time every 6 hours (a few 3-hour
    steps), a position that moves by small steps, a level that starts near 0 (kind a) or 100
    (kind b) and mostly stays, a status that follows the level."""
    rng = np.random.default_rng(seed)
    rows, ctx, groups = [], [], []
    for p in range(n_parents):
        kind = "a" if p % 2 == 0 else "b"
        n = int(rng.integers(4, 13))
        t = pd.Timestamp("2020-01-01") + pd.Timedelta(hours=int(rng.integers(0, 2000)) * 6)
        x = float(rng.normal(20, 5))
        level = (0 if kind == "a" else 100) + int(rng.integers(0, 3)) * 5
        for _ in range(n):
            rows.append({"at": t, "x": round(x, 1), "level": level,
                         "status": "high" if level >= 50 else "low"})
            ctx.append({"kind": kind})
            groups.append(p)
            t += pd.Timedelta(hours=6 if rng.random() < 0.95 else 3)
            x += float(rng.normal(0, 0.5))
            level += int(rng.choice([0, 0, 0, 5, -5]))
    return pd.DataFrame(rows), pd.DataFrame(ctx), np.asarray(groups)


@pytest.fixture(scope="module")
def fitted():
    data, ctx, groups = _tracks()
    model = create_model("sequence", seed=3)
    model.fit(data, ctx, groups=groups)
    return model, data, ctx, groups


def _per_group(frame: pd.DataFrame, groups: np.ndarray) -> pd.core.groupby.DataFrameGroupBy:
    return frame.assign(g=groups).groupby("g", sort=False)


def test_registered_as_sequential():
    assert isinstance(create_model("sequence"), SequenceModel)
    assert SequenceModel.sequential and not create_model("gaussian_copula").sequential


def test_steps_positions_and_context_follow_the_real_sequences(fitted):
    model, data, ctx, groups = fitted
    out = model.sample(len(data), ctx, seed=5, groups=groups)
    assert list(out.columns) == list(data.columns) and len(out) == len(data)
    g = _per_group(out, groups)
    hours = g["at"].diff().dt.total_seconds().dropna() / 3600
    assert (hours == 6).mean() > 0.8            # real: 95% six-hour steps
    assert (hours > 0).mean() > 0.97            # time moves forward within a track
    step = g["x"].diff().abs().dropna()
    assert step.median() < 1.5                  # real: |N(0, 0.5)|, median 0.34; unconditioned ~5
    first = g.head(1)
    kind = ctx.groupby(groups, sort=False)["kind"].first().to_numpy()
    assert first.loc[kind == "a", "level"].mean() < 40 < first.loc[kind == "b", "level"].mean()
    level_steps = g["level"].diff().dropna()
    assert (level_steps == 0).mean() > 0.4      # real: 60% unchanged
    consistent = (out["status"] == np.where(out["level"] >= 50, "high", "low")).mean()
    assert consistent > 0.9


def test_a_drawn_time_takes_a_real_time_of_day(fitted):
    """Every track starts at 00, 06, 12 or 18 h (a few 3-hour steps come later): a first time
    drawn uniformly in its bin of a 500-day span would fall there one time in six."""
    model, data, ctx, groups = fitted
    out = model.sample(len(data), ctx, seed=7, groups=groups)
    first = _per_group(out, groups).head(1)["at"]
    assert (first.dt.hour % 6 == 0).mean() > 0.9
    assert (first.dt.minute == 0).all()
    col = next(c for c in model._cols if c.name == "at")
    assert col.tod_bins is not None and abs(col.tod_bins[:, 2].sum() - 1) < 1e-9
    assert all(c.tod_bins is None for c in model._cols if c.name != "at")
    # a model saved before the times of day were learned loads, and draws as before
    from synthohive_spark.models.sequence import _Column
    old = {k: v for k, v in col.to_dict().items() if k not in ("day", "day_shift", "tod_bins")}
    assert _Column.from_dict(old).tod_bins is None


def _synoptic_tracks(n_parents: int = 150, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Tracks observed every 6 hours at 00, 06, 12 and 18 h, with extra observations between
    (one or two in a row, 1 to 5 hours apart) after which the track returns to the next synoptic
    hour, as storms' landfalls do."""
    rng = np.random.default_rng(seed)
    rows, groups = [], []
    for p in range(n_parents):
        t = pd.Timestamp("2001-01-01") + pd.Timedelta(hours=6 * int(rng.integers(0, 4000)))
        for _ in range(int(rng.integers(6, 16))):
            rows.append(t)
            groups.append(p)
            nxt = t + pd.Timedelta(hours=6)
            if rng.random() < 0.2:
                extras = rng.choice(np.arange(1, 6), int(rng.integers(1, 3)), replace=False)
                for extra in np.sort(extras):
                    rows.append(t + pd.Timedelta(hours=int(extra)))
                    groups.append(p)
            t = nxt
    return pd.DataFrame({"at": rows}), np.asarray(groups)


def test_a_track_returns_to_its_hours_after_an_odd_step():
    """The network sees each time's time of day: after an observation between the synoptic hours
    the next one is back on them (the change before it does not tell how far back when two odd
    observations come in a row; seen as a number over three years, the time itself does not
    either)."""
    data, groups = _synoptic_tracks()
    model = create_model("sequence", seed=0, epochs=80).fit(data, groups=groups)
    assert next(c for c in model._cols if c.name == "at").tod_features
    out = model.sample(len(data), seed=1, groups=groups)

    def off(frame):
        return (frame["at"].dt.hour % 6 != 0) | (frame["at"].dt.minute != 0)

    def back(frame):  # the share of rows after an odd one that are on the hours again
        o = off(frame)
        after = o.groupby(groups).shift(1, fill_value=False).astype(bool)
        return float((~o[after]).mean())

    real_off, syn_off = off(data).mean(), off(out).mean()
    assert syn_off < 2 * real_off, (real_off, syn_off)       # real 0.23; without them 0.61
    assert back(out) > 0.4, (back(data), back(out))          # real 0.64; without them 0.08
    again = model_from_blobs(model_to_blobs(model))
    pd.testing.assert_frame_equal(again.sample(len(data), seed=1, groups=groups), out)


@pytest.mark.parametrize("patience, rows, expected", [
    ("auto", 2_000, 80),       # 4 steps an epoch: 320 steps' worth of epochs, not 8 epochs (32 steps)
    ("auto", 40_000, 8),       # 80 steps an epoch: at least 8 epochs
    (3, 2_000, 3),             # an int counts epochs
    (None, 2_000, None),       # never
])
def test_early_stop_patience_counts_optimizer_steps(monkeypatch, patience, rows, expected):
    """A small table has few optimizer steps an epoch: its default patience is counted in steps,
    so that it is not stopped after a few dozen of them; a given number counts epochs."""
    from synthohive_spark.models import base

    seen = []
    real_init = base._EpochTracker.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen.append(self.patience)

    monkeypatch.setattr(base._EpochTracker, "__init__", spy)
    lengths = np.full(rows // 10, 10)
    groups = np.repeat(np.arange(len(lengths)), lengths)
    data = pd.DataFrame({"v": np.random.default_rng(0).normal(size=rows).round(2)})
    create_model("sequence", seed=0, epochs=1, batch_size=500,
                 early_stopping_patience=patience).fit(data, groups=groups)
    assert seen == [expected]


@pytest.mark.parametrize("bad", [0, -2, 2.5, "8", True])
def test_a_patience_that_is_not_auto_an_int_or_none_is_refused(bad):
    with pytest.raises(ValueError, match="early_stopping_patience"):
        create_model("sequence", early_stopping_patience=bad)


def test_a_small_table_is_not_stopped_after_a_few_dozen_steps():
    """The fixture of odd observations (5 optimizer steps an epoch) learns its return to the hours
    when training is not stopped after 8 epochs without a better loss."""
    data, groups = _synoptic_tracks()
    model = create_model("sequence", seed=0, epochs=120).fit(data, groups=groups)
    assert len(model.training_history) == 120   # with a patience of 8 epochs: stopped at 80


def test_a_model_saved_before_the_time_of_day_features_keeps_its_inputs(monkeypatch):
    """A model saved before the network saw times of day (its columns say nothing of them) reads
    the three features per value it was trained on, and samples."""
    import json

    from synthohive_spark.models.base import META_BLOB, _meta_checksum
    from synthohive_spark.models.sequence import _Column

    fit_tod = SequenceModel._fit_time_of_day

    def without(col, codec, z, n_bins):  # the fit as it was: bins, no features
        fit_tod(col, codec, z, n_bins)
        col.tod_features = False

    data, groups = _synoptic_tracks(n_parents=30)
    with monkeypatch.context() as m:
        m.setattr(SequenceModel, "_fit_time_of_day", staticmethod(without))
        model = create_model("sequence", seed=0, epochs=3).fit(data, groups=groups)
    blobs = model_to_blobs(model)
    meta = json.loads(blobs[META_BLOB])
    found = json.dumps(meta).split('"tod_features": ')[1:]
    assert found and all(f.startswith("false") for f in found)
    text = json.dumps(meta).replace('"tod_features": false, ', "")
    old = json.loads(text.replace(', "tod_features": false', ""))
    assert "tod_features" not in json.dumps(old)
    old["checksums"]["meta_sha256"] = _meta_checksum(old)   # as that version wrote it
    loaded = model_from_blobs({**blobs, META_BLOB: json.dumps(old).encode()})
    col = next(c for c in loaded._cols if c.name == "at")
    assert col.tod_bins is not None and not col.tod_features and col.width == 3
    out = loaded.sample(len(data), seed=2, groups=groups)
    pd.testing.assert_frame_equal(out, model.sample(len(data), seed=2, groups=groups))
    assert _Column.from_dict(col.to_dict()).width == 3


def test_each_group_is_one_sequence_of_its_length(fitted):
    model, data, ctx, groups = fitted
    groups2 = np.repeat(np.arange(5), [1, 7, 3, 12, 2])
    ctx2 = pd.DataFrame({"kind": ["a"] * len(groups2)})
    out = model.sample(len(groups2), ctx2, seed=1, groups=groups2)
    sizes = _per_group(out, groups2).size().to_numpy()
    assert sizes.tolist() == [1, 7, 3, 12, 2]
    assert (_per_group(out, groups2)["at"].diff().dropna().dt.total_seconds() > 0).all()


def test_one_long_history_among_many_short_ones_costs_its_rows_not_a_padded_grid(fitted):
    import tracemalloc

    model, data, ctx, _ = fitted
    lengths = np.r_[[1] * 2000, 2000]          # 4,000 rows: 2,001 sequences x 2,000 steps padded
    groups = np.repeat(np.arange(len(lengths)), lengths)
    context = pd.DataFrame({"kind": np.where(groups % 2 == 0, "a", "b")})
    tracemalloc.start()
    try:
        out = model.sample(len(groups), context, seed=2, groups=groups)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a grid of sequences x the longest would hold 2,001 x 2,000 values per column: 32 MB per
    # numeric column, as much again per categorical one
    assert peak < 24 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert len(out) == len(groups) and out["at"].notna().all()
    # the long history is one sequence: it moves forward (up to the trained range's end)
    assert (out["at"].iloc[-2000:].diff().dropna() >= pd.Timedelta(0)).all()


def test_training_on_many_short_histories_and_one_long_one_pads_each_batch_only():
    import tracemalloc

    data, ctx, groups = _tracks(400, seed=4)
    # 3,000 one-row histories beside one of 400 rows (up to 400 steps are learned)
    one = data.iloc[np.r_[np.zeros(3000, dtype=int), np.arange(400) % len(data)]].reset_index(drop=True)
    one["at"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.r_[np.zeros(3000), np.arange(400) * 6], unit="h")
    g = np.r_[np.arange(3000), np.full(400, 3000)]
    context = pd.DataFrame({"kind": np.where(g % 2 == 0, "a", "b")})
    tracemalloc.start()
    try:
        model = create_model("sequence", seed=1, epochs=1).fit(one, context, groups=g)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # every sequence x the longest: 3,001 x 400 steps of every token, value part and code
    # (over 100 MiB here); per batch of similar lengths it is the rows themselves
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert model.fitted


def test_same_seed_same_rows_and_saved_state(fitted):
    model, data, ctx, groups = fitted
    a = model.sample(200, ctx.iloc[:200], seed=9, groups=groups[:200])
    b = model.sample(200, ctx.iloc[:200], seed=9, groups=groups[:200])
    c = model.sample(200, ctx.iloc[:200], seed=10, groups=groups[:200])
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    again = model_from_blobs(model_to_blobs(model))
    pd.testing.assert_frame_equal(a, again.sample(200, ctx.iloc[:200], seed=9, groups=groups[:200]))


def test_end_of_sequence_draws_lengths_like_the_real_ones(fitted):
    model, data, ctx, groups = fitted
    ctx1 = pd.DataFrame({"kind": ["a", "b"] * 100})
    rows, seq = model.sample_sequences(200, ctx1, seed=4, max_length=40)
    lengths = np.bincount(seq, minlength=200)
    assert lengths.min() >= 1
    assert 5 <= np.median(lengths) <= 11         # real: uniform 4..12
    assert (lengths <= 20).mean() > 0.9


def test_groups_are_refused_by_models_that_do_not_learn_sequences():
    data, ctx, groups = _tracks(10)
    with pytest.raises(ValueError, match="does not learn sequences"):
        create_model("gaussian_copula").fit(data, groups=groups)
    with pytest.raises(ValueError, match="one group value per row"):
        create_model("sequence", epochs=1).fit(data, ctx, groups=groups[:-1])


def test_bins_keep_point_masses_and_cover_the_values():
    values = np.concatenate([np.zeros(600), np.full(300, 5.0), np.linspace(-10, 10, 100)])
    bins = _bins(values, 20)
    assert ((bins[:, 0] == 0) & (bins[:, 1] == 0)).any() and ((bins[:, 0] == 5) & (bins[:, 1] == 5)).any()
    idx = _assign(bins, values)
    assert (bins[idx[:600], 0] == 0).all() and (bins[idx[:600], 1] == 0).all()
    lo, hi = bins[idx, 0], bins[idx, 1]
    assert ((values >= lo - 1e-9) & (values <= hi + 1e-9)).all()


def test_runs_split_rows_into_sequences():
    starts, lengths = _runs(pd.Series(["a", "a", "b", None, None, "c"]), 6)
    assert starts.tolist() == [0, 2, 3, 4, 5] and lengths.tolist() == [2, 1, 1, 1, 1]

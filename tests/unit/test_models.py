"""Generative models: registry, contract, determinism, safe persistence, context, errors, DDP hook."""
from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import os
import pickle
import socket
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from synthohive_spark.models import (
    CTGAN,
    GaussianCopula,
    GenerativeModel,
    ModelStateError,
    available_models,
    create_model,
    model_from_blobs,
    model_to_blobs,
    register_model,
)

FAST = {
    "ctgan": {"epochs": 2, "batch_size": 100, "generator_dim": [64, 64], "discriminator_dim": [64, 64],
              "embedding_dim": 32},
    "tvae": {"epochs": 2, "batch_size": 100, "compress_dims": [64, 64], "decompress_dims": [64, 64],
             "embedding_dim": 32},
    "gaussian_copula": {},
}
MODELS = sorted(FAST)


def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    null = r.random(n) < 0.2
    return pd.DataFrame({
        "age": r.integers(18, 90, n),
        "income": np.where(null, np.nan, r.lognormal(10, 0.5, n)),
        "score": pd.array(np.where(r.random(n) < 0.1, None, r.integers(0, 5, n)), dtype="Int64"),
        "city": pd.Series(np.where(r.random(n) < 0.1, None, r.choice(["Oslo", "Rome", "Lima"], n)), dtype=object),
        "vip": r.random(n) < 0.2,
        "joined": pd.to_datetime("2019-01-01") + pd.to_timedelta(r.integers(0, 900, n), unit="D"),
        "birthday": pd.Series([dt.date(1970, 1, 1) + dt.timedelta(days=int(x)) for x in r.integers(0, 9000, n)],
                              dtype=object),
        "balance": pd.Series([decimal.Decimal(f"{x:.2f}") for x in r.normal(1000, 100, n)], dtype=object),
    })


def context_table(n: int = 600, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A child column that copies a parent attribute, plus one that depends on a parent number."""
    r = np.random.default_rng(seed)
    segment = r.choice(["gold", "silver", "bronze"], n)
    size = r.uniform(0, 100, n)
    ctx = pd.DataFrame({"segment": segment, "size": size})
    data = pd.DataFrame({"tier": segment.copy(), "amount": size * 2 + r.normal(0, 5, n)})
    return data, ctx


@pytest.fixture(scope="module")
def fitted() -> dict[str, GenerativeModel]:
    torch.set_num_threads(1)
    df = table()
    return {name: create_model(name, seed=3, **FAST[name]).fit(df) for name in MODELS}


# ----------------------------------------------------------------------------- registry
def test_registry_names_and_errors() -> None:
    assert {"ctgan", "tvae", "gaussian_copula"} <= set(available_models())
    assert isinstance(create_model(), CTGAN)
    with pytest.raises(ValueError, match="unknown model 'nope'.*ctgan.*gaussian_copula.*tvae"):
        create_model("nope")
    with pytest.raises(TypeError, match="epoch.*valid ones.*epochs"):
        create_model("ctgan", epoch=3)
    with pytest.raises(TypeError, match="'epochs'"):
        create_model("gaussian_copula", epochs=3)
    hp = create_model("tvae", epochs=7).get_hyperparams()
    assert hp["epochs"] == 7 and json.loads(json.dumps(hp)) == hp
    with pytest.raises(ValueError, match="multiple of pac"):
        create_model("ctgan", batch_size=25)


class _MeanModel(GaussianCopula):
    """A user model: the copula with an extra hyperparameter."""

    default_hyperparams = {"note": "mine"}


def test_register_user_model_round_trips_through_state() -> None:
    register_model("mean_model", _MeanModel)
    assert "mean_model" in available_models()
    m = create_model("mean_model", note="x").fit(table(100))
    m2 = model_from_blobs(model_to_blobs(m))
    assert type(m2) is _MeanModel and m2.get_hyperparams()["note"] == "x"
    pd.testing.assert_frame_equal(m.sample(20, seed=1), m2.sample(20, seed=1))
    with pytest.raises(TypeError, match="GenerativeModel subclass"):
        register_model("bad", dict)


# ----------------------------------------------------------------------------- contract
@pytest.mark.parametrize("name", MODELS)
def test_sample_has_training_columns_dtypes_and_null_rates(fitted: dict[str, GenerativeModel], name: str) -> None:
    df = table()
    out = fitted[name].sample(400, seed=5)
    assert len(out) == 400 and list(out.columns) == list(df.columns)
    assert (out.dtypes == df.dtypes).all(), out.dtypes[out.dtypes != df.dtypes]
    assert all(isinstance(v, dt.date) for v in out["birthday"])
    assert all(isinstance(v, decimal.Decimal) and v.as_tuple().exponent == -2 for v in out["balance"])
    assert set(out["city"].dropna()) <= {"Oslo", "Rome", "Lima"}
    assert out["age"].between(18, 89).all()
    if name == "gaussian_copula":  # the copula learns marginals exactly; the 2-epoch nets are not judged
        assert abs(out["income"].isna().mean() - df["income"].isna().mean()) < 0.07
        assert abs(out["city"].isna().mean() - df["city"].isna().mean()) < 0.07
    assert fitted[name].sample(0).columns.tolist() == df.columns.tolist()


@pytest.mark.parametrize("name", MODELS)
def test_sampling_is_deterministic_per_seed(fitted: dict[str, GenerativeModel], name: str) -> None:
    m = fitted[name]
    a, b, c = m.sample(150, seed=11), m.sample(150, seed=11), m.sample(150, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    state = torch.get_rng_state()
    m.sample(10, seed=1)
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched


@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_fit_is_deterministic_per_seed(name: str) -> None:
    df = table(150)
    _, t1 = create_model(name, seed=9, **FAST[name]).fit(df).to_state()
    _, t2 = create_model(name, seed=9, **FAST[name]).fit(df).to_state()
    assert t1.keys() == t2.keys()
    assert all(torch.equal(t1[k], t2[k]) for k in t1)
    _, t3 = create_model(name, seed=10, **FAST[name]).fit(df).to_state()
    assert any(not torch.equal(t1[k], t3[k]) for k in t1 if t1[k].is_floating_point())


# ----------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("name", MODELS)
def test_save_load_samples_the_same_rows(fitted: dict[str, GenerativeModel], name: str, tmp_path: Any) -> None:
    m = fitted[name]
    expected = m.sample(120, seed=4)
    m.save(tmp_path / "dir")
    assert sorted(os.listdir(tmp_path / "dir")) == ["meta.json", "tensors.safetensors"]
    m.save(tmp_path / "model.zip")
    for loaded in (GenerativeModel.load(tmp_path / "dir"), GenerativeModel.load(tmp_path / "model.zip"),
                   type(m).load(tmp_path / "dir"), model_from_blobs(model_to_blobs(m)),
                   type(m).from_state(*m.to_state())):
        assert type(loaded) is type(m) and loaded.fitted
        pd.testing.assert_frame_equal(loaded.sample(120, seed=4), expected)


def test_state_meta_is_json_with_version_and_checksum(fitted: dict[str, GenerativeModel]) -> None:
    meta, tensors = fitted["ctgan"].to_state()
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta
    assert meta["model"] == "ctgan" and meta["format_version"] == 1
    assert len(meta["checksums"]["tensors_sha256"]) == 64
    assert all(isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in tensors.values())


def test_tampered_truncated_and_incompatible_state_fail_clearly(fitted: dict[str, GenerativeModel]) -> None:
    blobs = model_to_blobs(fitted["ctgan"])
    raw = bytearray(blobs["tensors.safetensors"])
    raw[-5] ^= 0xFF  # flip a weight byte
    with pytest.raises(ModelStateError, match="checksum"):
        model_from_blobs({**blobs, "tensors.safetensors": bytes(raw)})
    with pytest.raises(ModelStateError, match="safetensors"):
        model_from_blobs({**blobs, "tensors.safetensors": blobs["tensors.safetensors"][:-100]})
    with pytest.raises(ModelStateError, match="JSON"):
        model_from_blobs({**blobs, "meta.json": blobs["meta.json"][:-10]})
    meta = json.loads(blobs["meta.json"])
    meta["transformer"]["columns"][3]["categories"][0] = "Paris"
    with pytest.raises(ModelStateError, match="metadata checksum"):
        model_from_blobs({**blobs, "meta.json": json.dumps(meta).encode()})
    meta = json.loads(blobs["meta.json"])
    meta["format_version"] = 999
    with pytest.raises(ModelStateError, match="format_version 999"):
        model_from_blobs({**blobs, "meta.json": json.dumps(meta).encode()})
    with pytest.raises(ModelStateError, match="lacks the blobs"):
        model_from_blobs({"meta.json": blobs["meta.json"]})


def test_truncated_archive_fails_clearly(fitted: dict[str, GenerativeModel], tmp_path: Any) -> None:
    path = tmp_path / "m.zip"
    fitted["tvae"].save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelStateError):
        GenerativeModel.load(path)


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def test_loading_never_unpickles(fitted: dict[str, GenerativeModel], tmp_path: Any) -> None:
    marker = tmp_path / "pwned"
    blobs = model_to_blobs(fitted["ctgan"])
    evil = pickle.dumps({"generator.x": _Exploit(str(marker))})
    buf = tmp_path / "evil.pt"
    torch.save({"x": _Exploit(str(marker))}, buf)
    for payload in (evil, buf.read_bytes()):
        with pytest.raises(ModelStateError):
            model_from_blobs({**blobs, "tensors.safetensors": payload})
        assert not marker.exists()
    from safetensors.torch import load as st_load

    assert set(st_load(blobs["tensors.safetensors"])) == set(fitted["ctgan"].to_state()[1])


# ----------------------------------------------------------------------------- context
CONTEXT_HP = {
    "ctgan": {"epochs": 150, "batch_size": 200, "generator_dim": [128, 128], "discriminator_dim": [128, 128],
              "embedding_dim": 32},
    "tvae": {"epochs": 60, "batch_size": 200, "compress_dims": [64, 64], "decompress_dims": [64, 64],
             "embedding_dim": 16},
    "gaussian_copula": {},
}


@pytest.mark.parametrize("name", MODELS)
def test_context_alignment(name: str) -> None:
    """A child column copying a parent attribute follows the context given at sampling."""
    torch.set_num_threads(1)
    data, ctx = context_table()
    m = create_model(name, seed=0, **CONTEXT_HP[name]).fit(data, ctx)
    r = np.random.default_rng(5)
    new_ctx = pd.DataFrame({"segment": r.choice(["gold", "silver", "bronze"], 500),
                            "size": r.uniform(0, 100, 500)})
    out = m.sample(500, context=new_ctx, seed=2)
    match = (out["tier"].to_numpy() == new_ctx["segment"].to_numpy()).mean()
    shuffled = (out["tier"].to_numpy() == np.roll(new_ctx["segment"].to_numpy(), 1)).mean()
    assert match > 0.6 and match > shuffled + 0.2, (match, shuffled)
    if name != "ctgan":  # a GAN needs far more than these few hundred steps for a continuous relation
        corr = np.corrcoef(out["amount"], new_ctx["size"])[0, 1]
        assert corr > 0.5, corr


def test_context_errors() -> None:
    data, ctx = context_table(100)
    m = create_model("gaussian_copula").fit(data, ctx)
    with pytest.raises(ValueError, match="context columns.*segment"):
        m.sample(10)
    with pytest.raises(ValueError, match="has 5 rows but sample needs 10"):
        m.sample(10, context=ctx.iloc[:5])
    with pytest.raises(ValueError, match=r"missing \['size'\], unexpected \['weight'\]"):
        m.sample(3, context=ctx.iloc[:3].rename(columns={"size": "weight"}))
    out = m.sample(3, context=ctx.iloc[:3][["size", "segment"]])  # column order does not matter
    assert len(out) == 3
    with pytest.raises(ValueError, match="aligned"):
        create_model("gaussian_copula").fit(data, ctx.iloc[:50])
    plain = create_model("gaussian_copula").fit(data)
    with pytest.raises(ValueError, match="fit without context"):
        plain.sample(3, context=ctx.iloc[:3])
    with pytest.raises(ValueError, match="both data and context"):
        create_model("gaussian_copula").fit(data, data.rename(columns={"amount": "x"}))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", MODELS)
def test_empty_and_unsupported_frames_fail_clearly(name: str) -> None:
    m = create_model(name, **FAST[name])
    with pytest.raises(ValueError, match="no rows"):
        m.fit(pd.DataFrame({"a": pd.Series([], dtype="float64")}))
    with pytest.raises(ValueError, match="'blob'.*dict"):
        m.fit(pd.DataFrame({"a": [1.0, 2.0], "blob": [{"k": 1}, {"k": 2}]}))
    with pytest.raises(RuntimeError, match="not fitted"):
        m.sample(5)


def test_train_columns_must_match_fitted_transformers() -> None:
    df = table(100)
    m = create_model("tvae", **FAST["tvae"]).fit_transformers(df)
    with pytest.raises(ValueError, match=r"missing \['vip'\]"):
        m.train(df.drop(columns=["vip"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error() -> None:
    m = create_model("ctgan", device="cuda", **FAST["ctgan"])
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        m.fit(table(50))


def test_high_cardinality_column_trains_and_samples_known_categories() -> None:
    r = np.random.default_rng(0)
    cats = np.array([f"sku{i}" for i in range(5000)])
    df = pd.DataFrame({"sku": np.concatenate([cats, r.choice(cats, 1000)]), "qty": r.integers(1, 9, 6000)})
    m = create_model("ctgan", epochs=1, batch_size=500, generator_dim=[64], discriminator_dim=[64]).fit(df)
    emb = [k for k in m.to_state()[1] if "emb_tables" in k]
    assert emb and m.to_state()[1][emb[0]].shape[0] == 5000
    out = m.sample(300, seed=1)
    assert set(out["sku"]) <= set(cats) and out["sku"].nunique() > 50


def test_progress_logging_and_early_stopping(caplog: pytest.LogCaptureFixture) -> None:
    df = table(100)
    with caplog.at_level(logging.INFO, logger="synthohive_spark.models.ctgan"):
        create_model("ctgan", **FAST["ctgan"]).fit(df)
    assert any("epoch 2/2" in r.getMessage() and r.name == "synthohive_spark.models.ctgan" for r in caplog.records)
    m = create_model("tvae", epochs=60, batch_size=200, lr=0.0, early_stopping_patience=2,
                     compress_dims=[16], decompress_dims=[16], embedding_dim=8).fit(df)
    assert 3 <= len(m.training_history) < 60
    assert set(m.training_history[0]) == {"epoch", "loss"}
    # CTGAN stops on the generator's loss: with both learning rates 0 it never improves
    with caplog.at_level(logging.INFO, logger="synthohive_spark.models.ctgan"):
        g = create_model("ctgan", epochs=40, batch_size=50, generator_lr=0.0, discriminator_lr=0.0,
                         early_stopping_patience=3, generator_dim=[16], discriminator_dim=[16],
                         embedding_dim=8).fit(df)
    assert 4 <= len(g.training_history) < 40
    assert set(g.training_history[0]) == {"epoch", "loss_g", "loss_d"}
    assert any("generator loss has not improved for 3 epochs" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------- distributed hook
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dist_worker(rank: int, world: int, port: int, meta: dict[str, Any], tensors: dict[str, torch.Tensor],
                 shards: list[pd.DataFrame], out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        model = GenerativeModel.from_state(meta, tensors)
        model.train(shards[rank])
        _, weights = model.to_state()
        torch.save(weights, os.path.join(out_dir, f"rank{rank}.pt"))
        sample = model.sample(50, seed=1)
        assert len(sample) == 50 and list(sample.columns) == list(shards[rank].columns)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_distributed_training_keeps_ranks_identical(name: str, tmp_path: Any) -> None:
    import torch.multiprocessing as mp

    df = table(400)
    model = create_model(name, seed=1, **FAST[name]).fit_transformers(df)
    meta, tensors = model.to_state()
    assert meta["fitted"] is False
    shards = [df.iloc[:200].reset_index(drop=True), df.iloc[200:].reset_index(drop=True)]
    mp.spawn(_dist_worker, args=(2, _free_port(), meta, tensors, shards, str(tmp_path)), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys() and len(w0) > 4
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    # and they differ from a single-process fit on one shard: the ranks did exchange gradients
    single = GenerativeModel.from_state(meta, tensors).train(shards[0]).to_state()[1]
    assert any(not torch.equal(w0[k], single[k]) for k in w0 if w0[k].is_floating_point())


# ----------------------------------------------------------------------------- sampling device
@pytest.mark.parametrize("name", MODELS)
def test_to_device_cpu_keeps_the_rows_and_state(fitted: dict[str, GenerativeModel], name: str) -> None:
    m = model_from_blobs(model_to_blobs(fitted[name]))
    expected = m.sample(200, seed=21)
    moved = m.to_device("cpu")
    assert moved is (name != "gaussian_copula")  # a copula samples with numpy: nothing to move
    assert m.sample_device == torch.device("cpu")
    pd.testing.assert_frame_equal(m.sample(200, seed=21), expected)
    _, tensors = m.to_state()
    assert all(t.device.type == "cpu" for t in tensors.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_sampling_on_cuda_is_deterministic_and_keeps_the_schema(fitted: dict[str, GenerativeModel],
                                                                 name: str) -> None:
    m = model_from_blobs(model_to_blobs(fitted[name]))
    cpu_rows = m.sample(3000, seed=5)
    assert m.to_device("cuda") and m.sample_device.type == "cuda"
    assert next(m.generator.parameters() if name == "ctgan" else m.decoder.parameters()).is_cuda
    a, b = m.sample(3000, seed=5), m.sample(3000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert a.dtypes.tolist() == cpu_rows.dtypes.tolist()
    # the same model: category shares on the GPU agree with the CPU's within sampling noise
    share_gpu = a["city"].value_counts(normalize=True, dropna=False)
    share_cpu = cpu_rows["city"].value_counts(normalize=True, dropna=False)
    assert (share_gpu.reindex(share_cpu.index).fillna(0) - share_cpu).abs().max() < 0.05
    _, tensors = m.to_state()  # saving from a GPU model still writes CPU tensors
    assert all(t.device.type == "cpu" for t in tensors.values())


def _species_table(seed: int = 0, k: int = 40, n: int = 8000) -> pd.DataFrame:
    """Many species whose weights differ by species, not in their frequency order."""
    rng = np.random.default_rng(seed)
    freq = rng.dirichlet(np.ones(k) * 2)
    mean_w = rng.permutation(np.linspace(10, 250, k))
    sp = rng.choice(k, n, p=freq)
    return pd.DataFrame({"species": [f"S{i:02d}" for i in sp],
                         "weight": np.round(mean_w[sp] * rng.lognormal(0, 0.1, n), 1),
                         "hindfoot": np.round(np.sqrt(mean_w[sp]) * 3 + rng.normal(0, 1, n), 1)})


def test_copula_keeps_how_a_many_valued_category_shifts_the_numbers():
    real = _species_table()
    m = create_model("gaussian_copula", seed=1)
    m.fit(real)
    fake = m.sample(8000, seed=2)
    by_real = real.groupby("species")["weight"].mean()
    by_fake = fake.groupby("species")["weight"].mean().reindex(by_real.index)
    assert np.corrcoef(by_real, by_fake.fillna(by_fake.mean()))[0, 1] > 0.95
    # the order is part of the saved state: a reloaded model samples the same rows
    again = model_from_blobs(model_to_blobs(m)).sample(8000, seed=2)
    pd.testing.assert_frame_equal(fake, again)


def test_copula_saved_without_category_orders_still_loads_in_frequency_order():
    real = _species_table()
    m = create_model("gaussian_copula", seed=1)
    m.fit(real)
    m._orders = {}  # the state a model saved before the orders were learned holds
    restored = model_from_blobs(model_to_blobs(m))
    assert restored._orders == {}
    fake = restored.sample(4000, seed=0)
    # frequency order: the most frequent species keeps its share, the weights lose their species
    top = real["species"].value_counts(normalize=True)
    assert abs(fake["species"].value_counts(normalize=True)[top.index[0]] - top.iloc[0]) < 0.03


def _survey_table(seed: int = 0, n: int = 12000) -> pd.DataFrame:
    """Species with their own foot sizes, sex ratios and missing-value shares (a field survey)."""
    rng = np.random.default_rng(seed)
    k = 12
    sp = rng.choice(k, n, p=rng.dirichlet(np.ones(k) * 3))
    foot = rng.permutation(np.linspace(10, 60, k))[sp] + rng.normal(0, 1.0, n)
    male = rng.permutation(np.linspace(0.1, 0.9, k))
    sex = np.where(rng.random(n) < male[sp], "M", "F")
    missing = rng.random(n) < np.where(sp % 3 == 0, 0.4, 0.02)
    return pd.DataFrame({"species": [f"S{i:02d}" for i in sp],
                         "sex": sex,
                         "hindfoot": np.where(missing, np.nan, np.round(foot, 1))})


def _per_species_gap(real: pd.DataFrame, fake: pd.DataFrame) -> dict[str, float]:
    """Largest gap over species between real and fake: median foot, missing share, male share."""
    def stats(t: pd.DataFrame) -> pd.DataFrame:
        g = t.groupby("species")
        return pd.DataFrame({"foot": g["hindfoot"].median(),
                             "missing": g["hindfoot"].apply(lambda s: s.isna().mean()),
                             "male": g["sex"].apply(lambda s: (s == "M").mean())})
    r, f = stats(real), stats(fake).reindex(stats(real).index)
    return {c: float((r[c] - f[c]).abs().max()) for c in r.columns}


def test_copula_stratified_by_species_keeps_each_species_values_missing_share_and_sex_ratio():
    real = _survey_table()
    flat = create_model("gaussian_copula", seed=1, stratify="none").fit(real)
    auto = create_model("gaussian_copula", seed=1).fit(real)
    assert flat._strata is None
    assert auto._strata["column"] == "species"  # chosen: the species explain the foot sizes
    gap_flat = _per_species_gap(real, flat.sample(12000, seed=2))
    gap_auto = _per_species_gap(real, auto.sample(12000, seed=2))
    # one correlation holds a band, not each species' own distribution, share and ratio
    assert gap_flat["foot"] > 3 and gap_flat["missing"] > 0.15 and gap_flat["male"] > 0.3
    # (a 140-row species' male share varies by about 0.04 between samples)
    assert gap_auto["foot"] < 1.0 and gap_auto["missing"] < 0.06 and gap_auto["male"] < 0.12
    # the species' shares stay the real ones
    share = real["species"].value_counts(normalize=True)
    fake = auto.sample(12000, seed=3)
    assert (fake["species"].value_counts(normalize=True).reindex(share.index) - share).abs().max() < 0.02


def test_copula_strata_are_saved_and_a_model_saved_without_them_still_loads():
    real = _survey_table()
    m = create_model("gaussian_copula", seed=1).fit(real)
    restored = model_from_blobs(model_to_blobs(m))
    pd.testing.assert_frame_equal(m.sample(3000, seed=4), restored.sample(3000, seed=4))
    m._strata = None  # the state a model saved before stratification holds
    old = model_from_blobs(model_to_blobs(m))
    assert old._strata is None
    fake = old.sample(3000, seed=4)
    assert fake["hindfoot"].notna().mean() == pytest.approx(real["hindfoot"].notna().mean(), abs=0.03)


def test_copula_stratifies_by_a_context_column_and_refuses_an_unknown_one():
    rng = np.random.default_rng(0)
    n = 6000
    kind = rng.choice(["small", "medium", "large"], n)
    size = np.select([kind == "small", kind == "medium"], [10.0, 50.0], 200.0) + rng.normal(0, 1, n)
    data, context = pd.DataFrame({"size": np.round(size, 2)}), pd.DataFrame({"kind": kind})
    m = create_model("gaussian_copula", seed=0, stratify="kind").fit(data, context)
    assert (m._strata["column"], m._strata["source"]) == ("kind", "context")
    ctx = pd.DataFrame({"kind": ["small"] * 500 + ["large"] * 500})
    fake = m.sample(1000, context=ctx, seed=1)
    assert fake["size"].iloc[:500].between(5, 15).all() and fake["size"].iloc[500:].between(195, 205).all()
    with pytest.raises(ValueError, match="stratify='colour' names no categorical column"):
        create_model("gaussian_copula", seed=0, stratify="colour").fit(data, context)
    with pytest.raises(ValueError, match="stratify must be 'auto', 'none'"):
        create_model("gaussian_copula", stratify=3)


def test_copula_stratifies_by_a_category_that_determines_others_without_numbers():
    """Customers: the country decides the state (no numerical column at all); flat, a copula
    draws Brazilian customers in Texas."""
    rng = np.random.default_rng(5)
    states = {"Brazil": ["SP", "RJ", "MG"], "USA": ["TX", "CA", "NY", "WA"],
              "Canada": ["ON", "QC", "BC"], "India": ["MH", "KA"]}
    country = rng.choice(list(states), 4000, p=[0.3, 0.4, 0.2, 0.1])
    state = [states[c][int(rng.integers(0, len(states[c])))] for c in country]
    real = pd.DataFrame({"country": country, "state": state,
                         "segment": rng.choice(["retail", "b2b"], 4000)})
    m = create_model("gaussian_copula", seed=1).fit(real)
    assert m._strata is not None and m._strata["column"] in ("country", "state")
    fake = m.sample(4000, seed=2)
    agree = np.mean([s in states[c] for c, s in zip(fake["country"], fake["state"])])
    assert agree == 1.0
    flat = create_model("gaussian_copula", seed=1, stratify="none", nest=False).fit(real).sample(4000, seed=2)
    assert np.mean([s in states[c] for c, s in zip(flat["country"], flat["state"])]) < 0.8
    share = real["country"].value_counts(normalize=True)
    assert (fake["country"].value_counts(normalize=True).reindex(share.index) - share).abs().max() < 0.03


def _wide_customers(n: int = 5000, seed: int = 5) -> tuple[pd.DataFrame, dict[str, list[str]], dict[str, str]]:
    """Customers with a country, its state and its city among six unrelated categories and two
    numbers: no column explains the others on average, so nothing is stratified."""
    rng = np.random.default_rng(seed)
    states = {"Brazil": ["SP", "RJ", "MG", "BA"], "USA": ["TX", "CA", "NY", "WA", "FL"],
              "Canada": ["ON", "QC", "BC"], "India": ["MH", "KA", "DL"], "Germany": ["BY", "BE"]}
    city_state = {f"{st}-city{j}": st for sts in states.values() for st in sts for j in range(3)}
    country = rng.choice(list(states), n, p=[0.25, 0.35, 0.15, 0.15, 0.1])
    state = np.array([states[c][int(rng.integers(0, len(states[c])))] for c in country])
    city = np.array([f"{s}-city{int(rng.integers(0, 3))}" for s in state])
    cols = {"country": country, "state": state, "city": city}
    for j in range(6):
        cols[f"cat{j}"] = rng.choice([f"v{i}" for i in range(4 + j)], n)
    cols["age"] = rng.integers(18, 90, n)
    cols["spend"] = np.round(rng.gamma(2.0, 50.0, n), 2)
    return pd.DataFrame(cols), states, city_state


def test_copula_draws_a_nested_category_within_its_sampled_parent_category():
    """State within country and city within state, without stratification (and whatever the
    automatic stratification picks): the correlation alone puts half the states in another
    country."""
    real, states, city_state = _wide_customers()
    for stratify in ("none", "auto"):
        m = create_model("gaussian_copula", seed=1, stratify=stratify).fit(real)
        assert not any(c.startswith("cat") for c in m._nested)  # unrelated: never nested
        if stratify == "none":
            assert m._nested["state"]["given"] == "country" and m._nested["city"]["given"] == "state"
            assert "country" not in m._nested
        elif m._strata["column"] == "city":  # drawn first: its state and country follow it
            assert m._nested["state"]["given"] == m._nested["country"]["given"] == "city"
        fake = m.sample(6000, seed=2)
        assert all(s in states[c] for c, s in zip(fake["country"], fake["state"]))
        assert all(city_state[ci] == s for ci, s in zip(fake["city"], fake["state"]))
        for col in ("country", "state", "city"):  # the columns keep their real shares
            share = real[col].value_counts(normalize=True)
            gap = fake[col].value_counts(normalize=True).reindex(share.index).fillna(0) - share
            assert gap.abs().max() < 0.02
    off = create_model("gaussian_copula", seed=1, stratify="none", nest=False).fit(real).sample(6000, seed=2)
    assert np.mean([s in states[c] for c, s in zip(off["country"], off["state"])]) < 0.6
    m = create_model("gaussian_copula", seed=1, stratify="none").fit(real)
    fake = m.sample(3000, seed=2)
    restored = model_from_blobs(model_to_blobs(m))
    pd.testing.assert_frame_equal(fake, restored.sample(3000, seed=2))
    m._nested = {}  # the state a model saved before nesting holds
    assert model_from_blobs(model_to_blobs(m))._nested == {}
    with pytest.raises(ValueError, match="nest must be true or false"):
        create_model("gaussian_copula", nest="yes")


def test_copula_does_not_nest_one_off_values_or_a_column_in_a_context_it_does_not_follow():
    rng = np.random.default_rng(3)
    n = 3000
    ctx = pd.DataFrame({"region": rng.choice(["north", "south", "east"], n)})
    data = pd.DataFrame({"ticket": [f"T{i:05d}" for i in rng.permutation(n)],  # one-off values
                         "colour": rng.choice(["red", "blue", "green", "grey"], n)})
    m = create_model("gaussian_copula", seed=1).fit(data, ctx)
    assert m._nested == {}
    # a child column nested in a context column is drawn within the given category
    kinds = {"north": ["n1", "n2"], "south": ["s1", "s2", "s3"], "east": ["e1", "e2"]}
    data["kind"] = [kinds[r][int(rng.integers(0, len(kinds[r])))] for r in ctx["region"]]
    m = create_model("gaussian_copula", seed=1, stratify="none").fit(data, ctx)
    assert m._nested["kind"] == {**m._nested["kind"], "given": "region", "source": "context"}
    want = pd.DataFrame({"region": ["south"] * 400 + ["east"] * 400})
    fake = m.sample(800, context=want, seed=4)
    assert set(fake["kind"].iloc[:400]) <= {"s1", "s2", "s3"} and set(fake["kind"].iloc[400:]) <= {"e1", "e2"}


def _fleet(n: int = 5000, seed: int = 7) -> pd.DataFrame:
    """Aircraft: a model (40) made by one of five makers, whose name is spelt two ways on 8% of
    rows (a register's "AIRBUS" and "AIRBUS INDUSTRIE"), the makers' engine counts, and a flag
    that is "a" on 91% of rows whatever the model."""
    rng = np.random.default_rng(seed)
    makers = ["BOEING", "AIRBUS", "EMBRAER", "BOMBARDIER", "CESSNA"]
    engines = {"BOEING": 2, "AIRBUS": 2, "EMBRAER": 2, "BOMBARDIER": 2, "CESSNA": 1}
    model_maker = {f"M{j:02d}": makers[j % 5] for j in range(40)}
    model = rng.choice(sorted(model_maker), n)
    maker = np.array([model_maker[m] for m in model], dtype=object)
    other = rng.random(n) < 0.08
    maker[other] = [m + " INDUSTRIE" for m in maker[other]]
    return pd.DataFrame({"model": model, "maker": maker,
                         "engines": [str(engines[m.split()[0]]) for m in maker],
                         "flag": np.where(rng.random(n) < 0.91, "a", "b"),
                         "seats": rng.integers(50, 300, n)})


def test_copula_nests_a_column_its_finer_column_mostly_determines_and_not_by_chance():
    """A maker spelt two ways is determined by the model on 92% of rows: the model is drawn
    within the maker (the pairs come out as real ones), not within the engine count it also
    determines (which says little of the model); a flag that is "a" on 91% of rows agrees
    with any model's most common value about as often by chance, and stays free."""
    real = _fleet()
    m = create_model("gaussian_copula", seed=1, stratify="none").fit(real)
    assert m._nested["model"]["given"] == "maker"
    assert create_model("gaussian_copula", seed=1, stratify="none").fit(
        real[["model", "flag", "seats"]])._nested == {}
    fake = m.sample(5000, seed=2)
    pairs = set(zip(real["model"], real["maker"]))
    assert np.mean([p in pairs for p in zip(fake["model"], fake["maker"])]) > 0.99
    spelt = real.groupby("model")["maker"].apply(lambda s: s.str.endswith("INDUSTRIE").mean())
    got = fake.groupby("model")["maker"].apply(lambda s: s.str.endswith("INDUSTRIE").mean())
    assert abs(got.mean() - spelt.mean()) < 0.02  # the second spelling keeps its share


# ----------------------------------------------------------------------------- model="auto"
def _ring(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return pd.DataFrame({"x": np.round(np.cos(t) + rng.normal(0, 0.05, n), 4),
                         "y": np.round(np.sin(t) + rng.normal(0, 0.05, n), 4),
                         "g": rng.choice(["a", "b"], n)})


class _RingOracle(GaussianCopula):
    """A challenger that knows the ring the data lie on (what a well-trained network learns)."""

    default_hyperparams = {"epochs": 1, "batch_size": 500}

    def _sample(self, n: int, context: pd.DataFrame | None, seed: int) -> pd.DataFrame:
        return _ring(n, seed)


class _CopulaAgain(GaussianCopula):
    """A challenger no better than the copula (it is one)."""

    default_hyperparams = {"epochs": 1, "batch_size": 500}


def test_holdout_score_sees_shapes_and_pair_trends():
    from synthohive_spark.models.auto import holdout_score
    real, other = _ring(4000, 1), _ring(4000, 2)
    same = holdout_score(real, other)
    assert same > 0.93 and holdout_score(real, real) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    # the same columns, each shuffled on its own: shapes kept, the ring (a pair trend) lost
    apart = other.apply(lambda c: c.sample(frac=1, random_state=int(rng.integers(1000))).to_numpy())
    assert holdout_score(real, apart) < same - 0.05
    shifted = other.assign(x=other["x"] + 0.5)
    assert holdout_score(real, shifted) < same - 0.05
    dated = pd.DataFrame({"t": pd.to_datetime("2020-01-01") + pd.to_timedelta(real["x"] * 1e5, unit="s"),
                          "n": pd.array(np.where(real["g"] == "a", None, 1), dtype="Int64")})
    assert holdout_score(dated, dated.iloc[::-1].reset_index(drop=True)) == pytest.approx(1.0)


def test_auto_keeps_the_copula_on_a_small_table_and_when_it_is_near_the_ceiling():
    from synthohive_spark.models.auto import TRIAL_MIN_ROWS, choose_model
    small = choose_model(_survey_table(n=TRIAL_MIN_ROWS - 1), None, seed=1, epochs=300, batch_size=500)
    assert small.model == "gaussian_copula" and "too few" in small.why and small.scores == {}
    near = choose_model(_survey_table(n=6000), None, seed=1, epochs=300, batch_size=500)
    assert near.model == "gaussian_copula" and "tvae" not in near.scores  # no trial needed
    assert near.scores["gaussian_copula"] >= near.scores["ceiling"] - 0.03
    again = choose_model(_survey_table(n=6000), None, seed=1, epochs=300, batch_size=500)
    assert again.scores == near.scores  # seeded: the same choice for the same data


def test_auto_takes_a_challenger_only_when_it_beats_the_copula_and_bounds_its_epochs(monkeypatch):
    from synthohive_spark.models import auto
    register_model("ring_oracle", _RingOracle)
    monkeypatch.setattr(auto, "CHALLENGER", "ring_oracle")
    real = _ring(8000, 3)
    won = auto.choose_model(real, None, seed=1, epochs=100_000, batch_size=500)
    assert won.scores["gaussian_copula"] < won.scores["ceiling"] - auto.CEILING_GAP  # no ring
    assert won.model == "ring_oracle" and won.scores["ring_oracle"] >= won.scores["gaussian_copula"] + 0.02
    assert won.hyperparams["epochs"] * 16 <= auto.FINAL_STEPS + 16  # 8000 rows: 16 steps an epoch
    assert "ring_oracle" in won.why and "copula" in won.why
    assert auto.choose_model(real, None, seed=1, epochs=3, batch_size=500).hyperparams["epochs"] == 3
    register_model("copula_again", _CopulaAgain)
    monkeypatch.setattr(auto, "CHALLENGER", "copula_again")  # no better than the copula: kept
    kept = auto.choose_model(real, None, seed=1, epochs=300, batch_size=500)
    assert kept.model == "gaussian_copula" and "not 0.02 better" in kept.why


def _catalog_lines(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Order lines of a 150-product catalog: Zipf-like product shares, a price set by the product
    (plus noise) and a gift flag unrelated to it."""
    rng = np.random.default_rng(seed)
    k = 150
    share = 1.0 / np.arange(1, k + 1) ** 0.8
    share /= share.sum()
    product = rng.choice(k, n, p=share)
    list_price = np.round(rng.lognormal(3.0, 0.8, k), 2)
    return pd.DataFrame({"sku": [f"SKU-{p:03d}" for p in product],
                         "price": np.round(list_price[product] * rng.uniform(0.9, 1.1, n), 2),
                         "gift": rng.random(n) < 0.2})


@pytest.mark.parametrize("stratify", ["none", "auto"])
def test_copula_spreads_its_many_category_column_evenly_over_a_call(stratify: str) -> None:
    """The column of most categories is drawn from one evenly spread normal per call: each
    product comes out at its share of the call's rows to within a row or two (independent draws
    miss by up to 3 standard deviations of a binomial), while its prices still follow it and a
    given row is still any product."""
    real = _catalog_lines()
    m = create_model("gaussian_copula", seed=1, stratify=stratify).fit(real)
    share = real["sku"].value_counts(normalize=True)
    n = 3000
    fake = m.sample(n, seed=2)
    gap = fake["sku"].value_counts().reindex(share.index).fillna(0) - n * share
    assert gap.abs().max() <= 2.0, gap.abs().sort_values().tail()
    # the products' prices come with them: the mean price per product, real against fake
    both = pd.concat([real.groupby("sku")["price"].mean(), fake.groupby("sku")["price"].mean()],
                     axis=1, join="inner")
    assert both.corr(method="spearman").iloc[0, 1] > 0.9
    # one row's product is still a draw: the first row over seeds is many products
    assert len({m.sample(50, seed=s)["sku"].iloc[0] for s in range(40)}) >= 15
    # and the independent draws this replaces did miss
    iid = real["sku"].sample(n, replace=True, random_state=3).value_counts()
    assert (iid.reindex(share.index).fillna(0) - n * share).abs().max() > 4.0


def test_a_stratifying_column_is_drawn_within_the_context_category_it_belongs_to():
    """A flight's route says its airline (the routes are the airlines'), and it is the column
    the copula stratifies the rest by: under a context that fixes the airline (the plane's), the
    route is drawn among that airline's routes, not from a correlation with it."""
    rng = np.random.default_rng(0)
    n = 3000
    carrier = rng.choice(list("ABCD"), n)
    route = np.array([f"{c}-{k}" for c, k in zip(carrier, rng.integers(0, 3, n))])
    origin = np.array([{"0": "JFK", "1": "EWR", "2": "LGA"}[r[-1]] for r in route])
    distance = np.array([100.0 * (ord(r[0]) - 60) + 30 * int(r[-1]) for r in route])
    data = pd.DataFrame({"route": route, "origin": origin,
                         "distance": distance + rng.normal(0, 5, n)})
    context = pd.DataFrame({"carrier": carrier})
    model = GaussianCopula(seed=1)
    model.fit(data, context=context)
    assert model._strata["column"] == "route" and model._strata["source"] == "data"
    fixed = pd.DataFrame({"carrier": rng.choice(list("ABCD"), 2000)})
    out = model.sample(2000, context=fixed, seed=2)
    assert (out["route"].str[0] == fixed["carrier"]).mean() > 0.99
    # the rest still follows the route's tables
    assert (out["origin"] == out["route"].str[-1].map({"0": "JFK", "1": "EWR", "2": "LGA"})
            ).mean() > 0.95


def test_a_stratifying_column_is_drawn_from_its_frequencies_within_the_context_category():
    """A destination says most of a flight (its distance is the destination's) and is the
    copula's stratum; the airline, in the context, does not determine it but favours some
    destinations. The destinations come out at their real shares within each airline (the
    correlation alone left them near the overall shares), except for an airline of too few rows,
    which keeps the correlation's draw."""
    rng = np.random.default_rng(3)
    n = 6000
    dests = [f"D{i}" for i in range(12)]
    carrier = rng.choice(list("ABCE"), n, p=[0.33, 0.33, 0.335, 0.005])
    favour = {"A": [0, 1, 2], "B": [3, 4, 5], "C": [6, 7, 8], "E": [9, 10, 11]}
    dest = np.array([dests[rng.choice(favour[c])] if rng.random() < 0.6 else
                     dests[rng.integers(0, 12)] for c in carrier])
    dist = np.array([100.0 * int(d[1:]) for d in dest]) + rng.normal(0, 3, n)
    data = pd.DataFrame({"dest": dest, "distance": dist})
    model = GaussianCopula(seed=1)
    model.fit(data, context=pd.DataFrame({"carrier": carrier}))
    assert model._strata["column"] == "dest"
    assert model._nested["dest"]["given"] == "carrier"
    # E's ~30 rows are too few for frequencies of their own
    assert (model._nested["dest"]["freq"].sum(axis=1) > 0).sum() == 3
    fixed = pd.DataFrame({"carrier": np.repeat(list("ABCE"), 1500)})
    out = model.sample(len(fixed), context=fixed, seed=2)
    for c in "ABC":
        real = pd.Series(dest[carrier == c]).value_counts(normalize=True)
        got = out["dest"][fixed["carrier"] == c].value_counts(normalize=True)
        assert (got.reindex(real.index).fillna(0) - real).abs().max() < 0.04, c
        assert got.reindex([dests[i] for i in favour[c]]).sum() > 0.6
    # the rest of the row still follows the destination's tables
    assert (out["distance"] - out["dest"].str[1:].astype(int) * 100).abs().median() < 10


def test_a_stratifying_column_is_drawn_within_a_pair_of_context_columns_where_it_has_rows(tmp_path):
    """A destination follows both the plane's size and its airline (each airline flies its big
    planes to some airports, its small ones to others): drawn within the pair where the pair has
    50 rows, it keeps each pair's destinations; a saved model draws the same."""
    rng = np.random.default_rng(5)
    n = 8000
    carrier = rng.choice(list("ABCD"), n)
    size = rng.choice(["small", "big"], n)
    # three airports per (airline, size), shared: no airport says its airline or size
    home = {(c, s): list(rng.choice(16, 3, replace=False)) for c in "ABCD"
            for s in ["small", "big"]}
    dest = np.array([f"D{rng.choice(home[(c, s)])}" if rng.random() < 0.85 else
                     f"D{rng.integers(0, 16)}" for c, s in zip(carrier, size)])
    data = pd.DataFrame({"dest": dest, "distance": np.array([50.0 * int(d[1:]) for d in dest])
                         + rng.normal(0, 2, n)})
    ctx = pd.DataFrame({"carrier": carrier, "size": size})
    model = GaussianCopula(seed=1)
    model.fit(data, context=ctx)
    spec = model._nested["dest"]
    assert model._strata["column"] == "dest"
    assert {spec["given"], spec["given2"]} == {"carrier", "size"}
    fixed = ctx.sample(4000, random_state=0).reset_index(drop=True)
    out = model.sample(len(fixed), context=fixed, seed=3)
    at_home = [d in {f"D{k}" for k in home[(c, s)]}
               for d, c, s in zip(out["dest"], fixed["carrier"], fixed["size"])]
    real_home = [d in {f"D{k}" for k in home[(c, s)]} for d, c, s in zip(dest, carrier, size)]
    assert abs(np.mean(at_home) - np.mean(real_home)) < 0.03  # ~0.86; one column alone: ~0.5
    model.save(tmp_path / "m")
    again = GenerativeModel.load(tmp_path / "m").sample(len(fixed), context=fixed, seed=3)
    pd.testing.assert_frame_equal(out, again)
    # a row whose first column's category has too few rows (here one never seen) is drawn
    # within the second column's category alone
    first, second = spec["given"], spec["given2"]
    lone = fixed.copy()
    lone[first] = "unseen"
    got = model.sample(len(lone), context=lone, seed=4)
    for v in lone[second].unique():
        real = data["dest"][ctx[second] == v].value_counts(normalize=True)
        mine = got["dest"][lone[second] == v].value_counts(normalize=True)
        assert 0.5 * (mine.reindex(real.index).fillna(0) - real).abs().sum() < 0.08, v

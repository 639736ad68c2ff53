"""The database-wide PII settings of ``Metadata.privacy`` that only the relational fit reads:
``pii_strategy`` (the strategy of every PII column without its own) and ``locale`` (the Faker
locale of its fakes). Each test fails if the setting is ignored (issue 15: every PrivacyConfig
field has one; the others: test_reject_copies, test_k_anonymity, test_privacy_dp, test_pii)."""
from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.relational import RelationalSynthesizer


@pytest.fixture(scope="module")
def shop():
    rng = np.random.default_rng(0)
    n = 400
    first = ["Anna", "James", "Maria", "Peter", "Linda", "David", "Sarah", "Thomas"]
    last = ["Smith", "Miller", "Brown", "Wilson", "Taylor", "Clark", "Lewis", "Walker"]
    names = [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(n)]
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1), "full_name": names,
        "email": [f"{nm.lower().replace(' ', '.')}{i}@example.org" for i, nm in enumerate(names)],
        "segment": rng.choice(["retail", "business"], n)})
    orders = pd.DataFrame({"order_id": np.arange(1, 3 * n + 1),
                           "customer_id": rng.integers(1, n + 1, 3 * n),
                           "amount": np.round(rng.gamma(2.0, 25.0, 3 * n), 2)})
    real = {"customers": customers, "orders": orders}
    md = Metadata.detect(real)
    cols = md.tables["customers"].columns
    assert str(cols["full_name"].sdtype) == "name" and str(cols["email"].sdtype) == "email"
    return real, md


def _sample(spark, real, md):
    frames = {k: spark.createDataFrame(v) for k, v in real.items()}
    model = RelationalSynthesizer(metadata=md, seed=1, model="gaussian_copula").fit(frames)
    return model.sample(scale=1.0, seed=2)["customers"].toPandas()


def _cjk(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(("CJK", "KATAKANA", "HIRAGANA")) for ch in text)


def test_the_database_wide_strategy_drops_the_pii_and_a_columns_own_strategy_wins(spark, shop):
    real, md = shop
    md = md.model_copy(deep=True)
    md.privacy.pii_strategy = "drop"
    md.privacy.locale = "ja_JP"
    md.tables["customers"].columns["full_name"].pii_strategy = "fake"
    out = _sample(spark, real, md)
    assert out["email"].isna().all()  # dropped by the database's strategy
    # faked, by its own strategy, in the database's locale: Japanese names, none real
    assert out["full_name"].notna().all() and out["full_name"].map(_cjk).mean() > 0.9
    assert not out["full_name"].isin(set(real["customers"]["full_name"])).any()


def test_the_database_wide_strategy_keep_learns_the_values(spark, shop):
    real, md = shop
    md = md.model_copy(deep=True)
    md.privacy.pii_strategy = "keep"
    out = _sample(spark, real, md)
    # learned as they are: the real names come back (the user asked for it); by default faked
    assert out["full_name"].isin(set(real["customers"]["full_name"])).mean() > 0.9
    default = _sample(spark, real, shop[1])
    # faked: a common real name only by chance (Faker draws "Sarah Taylor" too)
    assert default["full_name"].isin(set(real["customers"]["full_name"])).mean() < 0.05
    assert not default["full_name"].map(_cjk).any()  # en_US, the default locale

"""Contextual PII end to end: a table of international customers, learned and sampled by
TableSynthesizer and RelationalSynthesizer; each synthetic customer is one persona with the city,
postal code and phone of its (learned) country."""
from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.ml.table import TableSynthesizer, TableSynthesizerModel
from synthohive_spark.privacy.contextual import ascii_fold

COUNTRIES = [("Brazil", "pt_BR"), ("Germany", "de_DE"), ("United Kingdom", "en_GB"),
             ("USA", "en_US"), ("France", "fr_FR"), ("Poland", "pl_PL"),
             ("Czech Republic", "cs_CZ"), ("Netherlands", "nl_NL")]
POSTAL = {"Brazil": r"\d{5}-?\d{3}", "Germany": r"\d{5}",
          "United Kingdom": r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}", "USA": r"\d{5}(-\d{4})?",
          "France": r"\d{5}", "Poland": r"\d{2}-\d{3}", "Czech Republic": r"\d{3} \d{2}",
          "Netherlands": r"\d{4} ?[A-Z]{2}"}


def international_customers(n: int, seed: int = 0, extra: tuple = ()) -> pd.DataFrame:
    """``n`` customers spread over 8 countries, each with its own locale's PII (Faker)."""
    from faker import Faker

    rng = np.random.default_rng(seed)
    countries = list(COUNTRIES) + list(extra)
    fakers = {}
    rows = []
    for i in range(n):
        country, loc = countries[int(rng.integers(0, len(countries)))]
        fk = fakers.get(loc)
        if fk is None:
            fk = fakers[loc] = Faker(loc)
            fk.seed_instance(seed)
        first, last = fk.first_name(), fk.last_name()
        rows.append({"customer_id": i + 1, "first_name": first, "last_name": last,
                     "email": f"{ascii_fold(first)}.{ascii_fold(last)}{i}@example.com",
                     "phone": fk.phone_number(), "city": fk.city(), "postal_code": fk.postcode(),
                     "country": country, "segment": str(rng.choice(["retail", "b2b", "vip"])),
                     "lifetime_value": float(np.round(rng.lognormal(6, 1), 2))})
    return pd.DataFrame(rows)


def _own_postal_share(df: pd.DataFrame) -> float:
    ok = [bool(re.fullmatch(POSTAL[c], z)) for c, z in zip(df["country"], df["postal_code"])
          if c in POSTAL and z is not None]
    return sum(ok) / max(len(ok), 1)


def _persona_share(df: pd.DataFrame) -> float:
    ok = [ascii_fold(f) in e and ascii_fold(last) in e
          for f, last, e in zip(df["first_name"], df["last_name"], df["email"])]
    return sum(ok) / len(ok)


@pytest.fixture(scope="module")
def customers(spark):
    pdf = international_customers(900, seed=1, extra=(("Peru", "es_ES"),))
    return spark.createDataFrame(pdf).repartition(2).cache()


def test_table_synthesizer_gives_each_customer_its_countrys_formats(customers, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="synthohive_spark"):
        model = TableSynthesizer(model="gaussian_copula", seed=3, tableName="customers",
                                 keyCols=["customer_id"]).fit(customers)
    specs = model._state["piiSpecs"]
    assert specs["postal_code"]["country_col"] == "country"
    assert specs["postal_code"]["country_locales"]["BR"] == "pt_BR"
    assert "country" not in specs and "country" in model.generative_model().data_columns
    assert "Peru" in caplog.text  # the fit log names the country without a Faker locale

    fake = model.sample(1600, numPartitions=3).toPandas()
    assert set(fake["country"]) <= {c for c, _ in COUNTRIES} | {"Peru"}
    assert _own_postal_share(fake) >= 0.95
    assert _persona_share(fake) >= 0.95
    germans = fake[fake["country"] == "Germany"]
    from faker.providers.address.de_DE import Provider
    assert germans["city"].isin(set(Provider.cities)).mean() >= 0.95
    assert not set(fake["email"]) & set(customers.toPandas()["email"])  # no real value comes back
    # every real address is distinct: detection records it and the 1,600 generated ones are too
    assert specs["email"]["unique"] is True and "unique" not in specs["phone"]
    assert fake["email"].is_unique

    again = model.sample(1600, numPartitions=3).toPandas()
    pd.testing.assert_frame_equal(fake, again)
    path = str(tmp_path / "ctx")
    model.write().save(path)
    loaded = TableSynthesizerModel.load(path).sample(1600, numPartitions=3).toPandas()
    pd.testing.assert_frame_equal(fake, loaded)


def test_relational_synthesizer_follows_the_country_too(spark, customers):
    from pyspark.sql import functions as F

    from synthohive_spark.metadata import Metadata
    from synthohive_spark.ml.relational import RelationalSynthesizer

    cust = customers.drop("lifetime_value")
    orders = spark.range(1, 1801).select(
        F.col("id").alias("order_id"), (F.col("id") % 900 + 1).alias("customer_id"),
        F.round(F.rand(5) * 100, 2).alias("amount"))
    md = Metadata.from_dict({"tables": {
        "customers": {"primary_key": "customer_id", "columns": {
            "customer_id": {"sdtype": "id", "dtype": "bigint"},
            "first_name": {"sdtype": "first_name", "dtype": "string"},
            "last_name": {"sdtype": "last_name", "dtype": "string"},
            "email": {"sdtype": "email", "dtype": "string", "unique": True},
            "phone": {"sdtype": "phone", "dtype": "string"},
            "city": {"sdtype": "city", "dtype": "string"},
            "postal_code": {"sdtype": "zip", "dtype": "string"},
            "country": {"sdtype": "categorical", "dtype": "string"},
            "segment": {"sdtype": "categorical", "dtype": "string"}}},
        "orders": {"primary_key": "order_id", "columns": {
            "order_id": {"sdtype": "id", "dtype": "bigint"},
            "customer_id": {"sdtype": "id", "dtype": "bigint"},
            "amount": {"sdtype": "numerical", "dtype": "double"}},
            "foreign_keys": [{"column": "customer_id", "parent_table": "customers",
                              "parent_column": "customer_id"}]}}})
    model = RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=5).fit(
        {"customers": cust, "orders": orders})
    assert model._state["tables"]["customers"]["pii"]["email"]["unique"] is True
    out = model.sample(scale=1.0)["customers"].toPandas()
    assert len(out) > 500
    assert _own_postal_share(out) >= 0.95
    assert _persona_share(out) >= 0.95
    assert out["email"].is_unique
    big = model.sample(scale=3.0)["customers"].toPandas()["email"]
    assert len(big) == 2700 and big.is_unique  # at any scale: the position makes each distinct


def test_a_unique_pii_column_that_cannot_be_made_unique_is_refused(spark, customers):
    from synthohive_spark.ml._spark_schema import SchemaError

    meta = {"columns": {"customer_id": {"sdtype": "id", "dtype": "bigint"},
                        "phone": {"sdtype": "phone", "dtype": "string", "pii": True,
                                  "unique": True},
                        "segment": {"sdtype": "categorical", "dtype": "string"}},
            "primary_key": "customer_id", "foreign_keys": []}
    with pytest.raises(SchemaError, match=r"Table 'customers': PII column 'phone' \(phone\) is "
                                          r"declared unique"):
        TableSynthesizer(model="gaussian_copula", tableName="customers", keyCols=["customer_id"],
                         tableMetadata=meta).fit(customers.select("customer_id", "phone", "segment"))

"""Spark tests of PIISanitizer / PIISanitizerModel: detection, strategies, engines, persistence."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import random

import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import functions as F

from synthohive_spark.ml._persist import ModelLoadError  # noqa: F401  (import check)
from synthohive_spark.ml._pii_engines import _scan_bits_jvm, scan_bits_python
from synthohive_spark.ml.pii import PIISanitizer, PIISanitizerModel
from synthohive_spark.privacy import generate_pii
from synthohive_spark.privacy import validators as V
from synthohive_spark.session import jvm_available

KEY = "spark-test-key-4f1c9a"
N = 300

LABELS = {  # column -> expected kind (None: a decoy, not PII)
    "contact": "email", "reach": "phone", "tax_ref": "ssn", "pay_with": "credit_card",
    "last_seen_from": "ip", "acct": "iban", "birthdate": "date_of_birth", "customer": "name",
    "first_name": "first_name", "city": "city", "zip_code": "zip",
    "order_ref": None, "handle": None, "product_name": None, "amount": None,
    "order_date": None, "version": None, "tracking_no": None, "sku": None, "qty": None,
    "status": None,
}


def _phones(rng: random.Random, n: int) -> list[str]:
    areas = ["212", "415", "617", "312", "206", "303", "512", "404"]
    return [f"({rng.choice(areas)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
            for _ in range(n)]


def _not_luhn(rng: random.Random) -> str:
    while True:
        d = "4" + "".join(str(rng.randint(0, 9)) for _ in range(15))
        if not V.luhn_ok(d):
            return d


@pytest.fixture(scope="module")
def labeled(spark):
    rng = random.Random(7)
    cols = {
        "contact": list(generate_pii("email", N, 1)),
        "reach": _phones(rng, N),
        "tax_ref": list(generate_pii("ssn", N, 2)),
        "pay_with": list(generate_pii("credit_card", N, 3)),
        "last_seen_from": [str(v) for v in generate_pii("ip", N, 4, fmt={"ipv6_share": 0.3})],
        "acct": list(generate_pii("iban", N, 5)),
        "birthdate": list(generate_pii("date_of_birth", N, 6)),
        "customer": list(generate_pii("name", N, 7)),
        "first_name": list(generate_pii("first_name", N, 8)),
        "city": list(generate_pii("city", N, 9)),
        "zip_code": list(generate_pii("zip", N, 10)),
        "order_ref": [_not_luhn(rng) for _ in range(N)],
        "handle": [rng.choice(["user@localhost", "foo@bar@baz.com", "ann at example dot com",
                               "@example.com", "bob@", "x@y"]) for _ in range(N)],
        "product_name": [rng.choice(["Blue Widget", "Steel Bolt 3000", "Garden Hose",
                                     "Red Lamp Deluxe", "Coffee Mug"]) for _ in range(N)],
        "amount": [round(rng.uniform(1, 500), 2) for _ in range(N)],
        "order_date": [(dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 400))).isoformat()
                       for _ in range(N)],
        "version": [f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}"
                    for _ in range(N)],
        "tracking_no": [str(rng.randint(100_000_000, 899_999_999)) for _ in range(N)],
        "sku": [f"AB-{rng.randint(1000, 9999)}-XY" for _ in range(N)],
        "qty": [rng.randint(1, 9) for _ in range(N)],
        "status": [rng.choice(["shipped", "pending", "returned"]) for _ in range(N)],
    }
    for c, values in cols.items():  # some nulls everywhere
        for i in range(0, N, 17):
            values[i] = None
    names = list(cols)
    rows = list(zip(*[cols[c] for c in names]))
    schema = ", ".join(f"{c} {'double' if c == 'amount' else 'int' if c == 'qty' else 'string'}"
                       for c in names)
    return spark.createDataFrame(rows, schema).repartition(4)


def _precision_recall(model: PIISanitizerModel) -> tuple[float, float, dict]:
    found = {f.column: f.kind for f in model.findings if f.is_pii}
    truth = {c: k for c, k in LABELS.items() if k is not None}
    tp = [c for c in found if c in truth]
    precision = len(tp) / len(found) if found else 0.0
    recall = len(tp) / len(truth)
    wrong_kind = {c: (found[c], truth[c]) for c in tp if found[c] != truth[c]}
    return precision, recall, wrong_kind


@pytest.mark.parametrize("engine", ["auto", "python"])
def test_detection_precision_recall_with_decoys(spark, labeled, engine):
    model = PIISanitizer(sampleFraction=0.6, engine=engine, defaultStrategy="mask").fit(labeled)
    precision, recall, wrong_kind = _precision_recall(model)
    assert precision >= 0.95, f"false positives: {model.report}"
    assert recall >= 0.9, f"missed: {set(LABELS) - set(model.report)}"
    assert not wrong_kind
    for col, info in model.report.items():
        assert 0.5 <= info["confidence"] <= 1.0 and 0.0 <= info["hit_rate"] <= 1.0
        assert info["strategy"] == "mask"
    # value evidence was used where a name says nothing
    assert model.report["contact"]["source"] == "values"
    assert model.report["pay_with"]["hit_rate"] > 0.9


def test_both_engines_find_the_same(spark, labeled):
    if not jvm_available(spark):
        pytest.skip("the synthohive-spark jar is not loaded (run python jvm/build_jar.py)")
    a = PIISanitizer(sampleFraction=0.6, engine="jvm", defaultStrategy="mask").fit(labeled)
    b = PIISanitizer(sampleFraction=0.6, engine="python", defaultStrategy="mask").fit(labeled)
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]


def test_thresholds_are_params(spark, labeled):
    strict = PIISanitizer(sampleFraction=0.6, minConfidence=0.99,
                          defaultStrategy="mask").fit(labeled)
    assert "city" not in strict.report  # a name hint alone (0.8) is below 0.99
    assert "contact" in strict.report
    loose = PIISanitizer(sampleFraction=0.6, minConfidence=0.35, defaultStrategy="mask",
                         inputCols=["order_date", "contact"]).fit(labeled)
    assert loose.report["order_date"]["kind"] == "date_of_birth"  # weak date evidence counts


def test_sample_covers_the_whole_table_and_is_bounded(spark):
    n = 4000
    rows = [(i, None if i < 3000 else f"person{i}@example.com") for i in range(n)]
    df = spark.createDataFrame(rows, "id long, contact string").repartition(4, "id") \
        .sortWithinPartitions("id")
    df = spark.createDataFrame(rows, "id long, contact string").coalesce(1).repartitionByRange(
        4, "id")
    model = PIISanitizer(sampleFraction=0.25, defaultStrategy="mask").fit(df)
    assert model.report["contact"]["kind"] == "email"  # the emails live in the last quarter
    bounded = PIISanitizer(sampleFraction=1.0, maxSampleRows=200, defaultStrategy="mask",
                           inputCols=["id"]).fit(df)
    assert 0 < bounded.findings[0].sampled <= 200


def _people(spark):
    rows = [("john.doe@gmail.com", "4111 1111 1111 1111", "123-45-6789", "(212) 555-0199",
             "John Smith", 94110, dt.date(1985, 3, 12), "note one"),
            ("zoë@exämple.com", "5500-0000-0000-0004", "234-56-7890", "+44 20 7946 0958",
             "Zoë Ångström", 10001, dt.date(1990, 12, 1), "note two"),
            (None, None, None, None, None, None, None, None),
            ("ann@example.org", "378282246310005", "345-67-8901", "415-555-0123", "Ann Lee",
             60601, dt.date(1970, 1, 30), "note three")]
    return spark.createDataFrame(
        rows, "email string, card string, ssn string, phone string, customer string, "
              "zip int, dob date, notes string")


FORCED = {"email": "email", "card": "credit_card", "ssn": "ssn", "phone": "phone",
          "customer": "name", "zip": "zip", "dob": "date_of_birth", "notes": "other"}


def _fit(df, strategy: str, engine: str = "auto", key=KEY, **kw):
    # inputCols=[]: nothing is scanned, the forced columns are the PII
    return PIISanitizer(piiColumns=FORCED, defaultStrategy=strategy, engine=engine, key=key,
                        sampleFraction=1.0, inputCols=[], **kw).fit(df)


def _ref_hmac(v: str) -> str:
    return hmac.new(KEY.encode(), v.encode("utf-8"), hashlib.sha256).hexdigest()


def test_every_strategy(spark):
    df = _people(spark)
    src = df.collect()

    out = _fit(df, "hash").transform(df)
    assert all(t == "string" for _, t in out.dtypes)
    rows = out.collect()
    assert rows[0]["email"] == _ref_hmac("john.doe@gmail.com")
    assert rows[0]["zip"] == _ref_hmac("94110") and rows[0]["dob"] == _ref_hmac("1985-03-12")

    rows = _fit(df, "hash:truncate").transform(df).collect()
    assert rows[0]["ssn"] == _ref_hmac("123-45-6789")[:11]

    rows = _fit(df, "hash:format").transform(df).collect()
    assert len(rows[0]["card"]) == 19 and rows[0]["card"][4] == " "
    assert rows[0]["card"] != src[0]["card"] and rows[0]["ssn"][3] == "-"

    rows = _fit(df, "mask").transform(df).collect()
    assert rows[0]["email"] == "j***.***@gmail.com" and rows[0]["card"] == "**** **** **** 1111"
    assert rows[0]["ssn"] == "***-**-6789" and rows[0]["dob"] == "1985-**-**"
    assert rows[1]["customer"] == "Z** Å*******"

    rows = _fit(df, "redact", redactToken="<gone>").transform(df).collect()
    assert rows[0]["notes"] == "<gone>" and rows[2]["notes"] is None

    out = _fit(df, "redact:null").transform(df)
    assert dict(out.dtypes)["zip"] == "int" and dict(out.dtypes)["dob"] == "date"
    assert all(r["email"] is None and r["zip"] is None for r in out.collect())

    out = _fit(df, "drop", key=None).transform(df)
    assert out.columns == []  # every column was forced PII

    out = _fit(df, "keep", key=None).transform(df)
    assert out.collect() == src

    out = _fit(df, "fake").transform(df)
    rows = out.collect()
    assert dict(out.dtypes)["dob"] == "date"
    assert V.is_email(rows[0]["email"]) and rows[0]["email"] != src[0]["email"]
    assert V.is_credit_card(rows[0]["card"]) and rows[0]["card"][-5] == " "
    assert V.is_ssn(rows[0]["ssn"]) and rows[0]["ssn"] != src[0]["ssn"]
    assert rows[0]["customer"] != "John Smith" and len(rows[0]["customer"].split()) == 2
    assert rows[1]["phone"].startswith("+44 ")


def test_nulls_stay_null(spark):
    df = _people(spark)
    for strategy in ("fake", "hash", "hash:truncate", "hash:format", "mask", "redact",
                     "redact:null"):
        row = _fit(df, strategy).transform(df).collect()[2]
        assert all(v is None for v in row), strategy


def test_mixed_strategies_by_column_and_kind(spark):
    df = _people(spark)
    model = PIISanitizer(piiColumns=FORCED, key=KEY, sampleFraction=1.0,
                         strategies={"email": "fake", "ssn": "hash", "card": "mask",
                                     "notes": "redact", "name": "drop", "zip": "keep",
                                     "date_of_birth": "redact:null"}).fit(df)
    assert model.report["customer"]["strategy"] == "drop"  # chosen by kind 'name'
    out = model.transform(df)
    assert "customer" not in out.columns
    r = out.collect()[0]
    assert r["card"].endswith("1111") and r["notes"] == "[REDACTED]" and r["zip"] == 94110
    assert r["ssn"] == _ref_hmac("123-45-6789") and r["dob"] is None
    assert r["phone"] != "(212) 555-0199"  # defaultStrategy 'fake'


def test_fake_and_hash_are_consistent_across_tables(spark):
    customers = spark.createDataFrame(
        [(1, "a@example.com"), (2, "b@example.com"), (3, "c@example.com")],
        "id int, email string")
    orders = spark.createDataFrame(
        [(10, "c@example.com"), (11, "a@example.com"), (12, "a@example.com"),
         (13, "zz@example.com")], "order_id int, buyer_email string").repartition(3)
    for strategy in ("fake", "hash", "hash:format"):
        c = PIISanitizer(key=KEY, defaultStrategy=strategy, sampleFraction=1.0).fit(customers)
        o = PIISanitizer(key=KEY, defaultStrategy=strategy, sampleFraction=1.0).fit(orders)
        assert "email" in c.report and "buyer_email" in o.report
        fc, fo = c.transform(customers), o.transform(orders)
        joined = fc.join(fo, fc.email == fo.buyer_email).select("id", "order_id").collect()
        assert sorted((r.id, r.order_id) for r in joined) == [(1, 11), (1, 12), (3, 10)], strategy
        again = PIISanitizer(key=KEY, defaultStrategy=strategy, sampleFraction=1.0) \
            .fit(customers).transform(customers).collect()
        assert again == fc.collect()
        other = PIISanitizer(key="another-key", defaultStrategy=strategy,
                             sampleFraction=1.0).fit(customers).transform(customers)
        assert other.collect()[0]["email"] != fc.collect()[0]["email"]


def _tricky_values(n: int = 1500) -> list:
    rng = random.Random(3)
    alphabet = "0123456789-. :/@()+abcXYZéü"
    fixed = ["4111 1111 1111 1111", "4111-1111-1111-1112", "123-45-6789", "123 45 6789",
             "666-45-6789", "123456789", "192.168.1.10", "2001:db8::1", "::ffff:1.2.3.4",
             "1:2:3:4:5:6:7:8", "1::2::3", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
             "1985-03-12", "03/12/1985", "25/12/1985", "12.03.1985", "1900-02-29",
             "(212) 555-0199", "+44 20 7946 0958", "john.doe@example.com", "foo@bar@baz.com",
             "  padded@example.com\t", "jöhn@example.com", "John Smith", "Zoë Ångström", "",
             " ", "x" * 300, "😀 emoji 1234", "12", "A", "a@b.co", None]
    rand = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(n)]
    return fixed + rand


def test_jvm_and_python_scan_bits_are_identical(spark):
    if not jvm_available(spark):
        pytest.skip("the synthohive-spark jar is not loaded (run python jvm/build_jar.py)")
    values = _tricky_values()
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    a = _scan_bits_jvm(df, ["v"], 2025).orderBy("i").collect()
    b = scan_bits_python(df, ["v"], 2025).orderBy("i").collect()
    assert a == b
    assert sum(1 for r in a if r["v__pii_bits"]) > 20  # the fixture does exercise the rules
    assert a[0]["v__pii_bits"] & V.CREDIT_CARD and not a[1]["v__pii_bits"] & V.CREDIT_CARD


@pytest.mark.parametrize("strategy", ["hash", "hash:truncate", "hash:format", "mask",
                                      "redact", "redact:null"])
def test_jvm_and_python_replacement_are_byte_identical(spark, strategy):
    if not jvm_available(spark):
        pytest.skip("the synthohive-spark jar is not loaded (run python jvm/build_jar.py)")
    values = _tricky_values(400)
    kinds = ["email", "credit_card", "ssn", "ip", "name", "phone", "iban", "zip",
             "date_of_birth", "other"]
    rows = [tuple([v] * len(kinds)) + (i, dt.date(1950, 1, 1) + dt.timedelta(days=i * 13))
            for i, v in enumerate(values)]
    schema = ", ".join(f"{k} string" for k in kinds) + ", n int, d date"
    df = spark.createDataFrame(rows, schema).repartition(3)
    forced = {**{k: k for k in kinds}, "n": "zip", "d": "date_of_birth"}
    model = PIISanitizer(piiColumns=forced, defaultStrategy=strategy, key=KEY,
                         inputCols=[]).fit(df)
    jvm = model.copy().setEngine("jvm").transform(df)
    py = model.copy().setEngine("python").transform(df)
    assert jvm.schema == py.schema
    a, b = sorted(jvm.collect(), key=repr), sorted(py.collect(), key=repr)
    assert a == b
    if strategy != "redact:null":
        assert sum(1 for r in a for v in r if v is not None) > 1000


def test_save_load_inside_pipeline_model(spark, tmp_path):
    df = _people(spark)
    pipe = Pipeline(stages=[
        PIISanitizer(piiColumns=FORCED, key=KEY, sampleFraction=1.0, keyId="vault:pii",
                     strategies={"email": "fake", "ssn": "hash", "card": "mask",
                                 "notes": "redact"}),
        SQLTransformer(statement="SELECT *, length(email) AS email_len FROM __THIS__")])
    fitted = pipe.fit(df)
    expected = fitted.transform(df).collect()
    path = str(tmp_path / "pipe")
    fitted.write().overwrite().save(path)
    for folder, _, files in os.walk(path):  # the key is nowhere on disk
        for name in files:
            with open(os.path.join(folder, name), "rb") as fh:
                assert KEY.encode() not in fh.read(), name
    loaded = PipelineModel.load(path)
    stage = loaded.stages[0]
    assert isinstance(stage, PIISanitizerModel)
    assert stage.report == fitted.stages[0].report
    with pytest.raises(ValueError, match="need the secret key"):
        loaded.transform(df).collect()
    with pytest.raises(ValueError, match="does not match the key"):
        stage.setKey("wrong-key")
    stage.setKey(KEY)
    assert loaded.transform(df).collect() == expected
    # a saved estimator keeps its params (never the key)
    est_path = str(tmp_path / "est")
    pipe.getStages()[0].write().overwrite().save(est_path)
    est = PIISanitizer.load(est_path)
    assert est.getStrategies()["ssn"] == "hash" and not est.hasKey()


def test_clear_errors(spark):
    df = _people(spark)
    with pytest.raises(ValueError, match="unknown strategy 'scramble'"):
        PIISanitizer(strategies={"email": "scramble"})
    with pytest.raises(ValueError, match="unknown locale 'xx_XX'"):
        PIISanitizer(locale="xx_XX")
    with pytest.raises(ValueError, match=r"column 'ssn' \(kind ssn\) uses strategy 'hash', "
                                         r"which needs the secret key"):
        PIISanitizer(piiColumns=FORCED, strategies={"ssn": "hash"}, defaultStrategy="mask",
                     sampleFraction=1.0).fit(df)
    with pytest.raises(ValueError, match="'emial', which is neither a column"):
        PIISanitizer(strategies={"emial": "mask"}, sampleFraction=1.0).fit(df)
    with pytest.raises(ValueError, match="forced column 'nope'"):
        PIISanitizer(piiColumns=["nope"], defaultStrategy="mask").fit(df)
    with pytest.raises(ValueError, match="sampleFraction must be in"):
        PIISanitizer(sampleFraction=0.0)
    model = _fit(df, "mask")
    with pytest.raises(ValueError, match="PII column 'email' .* is missing from the input"):
        model.transform(df.drop("email"))


def test_the_key_comes_from_the_environment_variable_when_none_is_passed(spark, monkeypatch,
                                                                         tmp_path):
    from synthohive_spark.metadata import Metadata

    df = _people(spark)
    monkeypatch.delenv("SYNTHOHIVE_HMAC_KEY", raising=False)
    with pytest.raises(ValueError, match="or set the environment variable SYNTHOHIVE_HMAC_KEY"):
        _fit(df, "hash", key=None)
    monkeypatch.setenv("SYNTHOHIVE_HMAC_KEY", KEY)  # the default variable
    rows = _fit(df, "hash", key=None).transform(df).collect()
    assert rows[0]["email"] == _ref_hmac("john.doe@gmail.com")
    with pytest.raises(ValueError, match="needs the secret key"):  # keyEnv="": never read
        _fit(df, "hash", key=None, keyEnv="")

    # the metadata's privacy.hmac_key_env names the variable
    monkeypatch.delenv("SYNTHOHIVE_HMAC_KEY")
    meta = Metadata.from_dict({"privacy": {"hmac_key_env": "SHOP_PII_KEY"},
                               "tables": {"people": {"columns": {
                                   "email": {"sdtype": "email", "dtype": "string",
                                             "pii_strategy": "hash"},
                                   "zip": {"sdtype": "numerical", "dtype": "int"}}}}})
    with pytest.raises(ValueError, match="environment variable SHOP_PII_KEY"):
        PIISanitizer.fromMetadata(meta, "people", sampleFraction=1.0).fit(df)
    monkeypatch.setenv("SHOP_PII_KEY", KEY)
    model = PIISanitizer.fromMetadata(meta, "people", sampleFraction=1.0).fit(df)
    assert model.getKeyEnv() == "SHOP_PII_KEY"
    assert model.transform(df).collect()[0]["email"] == _ref_hmac("john.doe@gmail.com")

    # saved: the variable's name, never its value; loaded, the variable is read again and a
    # different key in it is refused (the fingerprint of the fitted key is checked)
    path = str(tmp_path / "san")
    model.write().overwrite().save(path)
    for root, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert KEY.encode() not in fh.read()
    loaded = PIISanitizerModel.load(path)
    assert not loaded.hasKey() and loaded.getKeyEnv() == "SHOP_PII_KEY"
    assert loaded.transform(df).collect()[0]["email"] == _ref_hmac("john.doe@gmail.com")
    monkeypatch.setenv("SHOP_PII_KEY", "a-different-key-0000")
    with pytest.raises(ValueError, match="does not match the key this model was saved with"):
        PIISanitizerModel.load(path).transform(df)


def test_metadata_forces_columns_in_and_out(spark):
    from synthohive_spark.metadata import Metadata

    df = _people(spark)
    meta = Metadata.from_dict({"tables": {"people": {"columns": {
        "email": {"sdtype": "categorical", "dtype": "string"},
        "card": {"sdtype": "credit_card", "dtype": "string", "pii_strategy": "mask"},
        "ssn": {"sdtype": "ssn", "dtype": "string"},
        "phone": {"sdtype": "text", "dtype": "string", "pii": True},
        "customer": {"sdtype": "name", "dtype": "string", "pii_strategy": "keep"},
        "zip": {"sdtype": "numerical", "dtype": "int"},
        "dob": {"sdtype": "datetime", "dtype": "date"},
        "notes": {"sdtype": "text", "dtype": "string"}}}}})
    model = PIISanitizer.fromMetadata(meta, "people", defaultStrategy="redact",
                                      sampleFraction=1.0).fit(df)
    assert set(model.report) == {"card", "ssn", "phone", "customer"}  # email forced out
    assert model.report["card"]["strategy"] == "mask"
    assert model.report["phone"]["kind"] == "phone" and model.report["phone"]["source"] == \
        "metadata"
    out = model.transform(df).collect()[0]
    assert out["email"] == "john.doe@gmail.com" and out["customer"] == "John Smith"
    assert out["ssn"] == "[REDACTED]"


def test_a_small_table_is_read_whole_whatever_the_fraction(spark):
    rows = [(i, f"customer{i}@example.com" if i % 7 else None) for i in range(59)]
    df = spark.createDataFrame(rows, "id long, contact string")
    model = PIISanitizer(defaultStrategy="mask").fit(df)  # default sampleFraction 0.05
    sampled = {f.column: f.sampled for f in model.findings}
    assert sampled["contact"] == 59 - len(range(0, 59, 7))  # every non-null value was read
    assert model.report["contact"]["kind"] == "email"

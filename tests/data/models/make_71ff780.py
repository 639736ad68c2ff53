"""Writes the previous-release fixtures (run with PYTHONPATH at the old checkout)."""
import os, sys, shutil
import numpy as np, pandas as pd
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from synthohive_spark.session import get_or_create_session
from synthohive_spark.ml.table import TableSynthesizer
from synthohive_spark.ml.cardinality import CardinalityEstimator, with_child_counts
from synthohive_spark.ml.pii import PIISanitizer
from synthohive_spark.ml.relational import RelationalSynthesizer
from synthohive_spark.examples import retail_spark

out = sys.argv[1]
spark = get_or_create_session(app_name="fixtures", master="local[2]",
                              conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
rng = np.random.default_rng(0)
n = 300
pdf = pd.DataFrame({"order_id": np.arange(1, n + 1),
                    "channel": rng.choice(["web", "store", "phone"], n),
                    "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
                    "email": [f"user{i}@example.com" for i in range(n)]})
df = spark.createDataFrame(pdf)
ts = TableSynthesizer(model="gaussian_copula", keyCols=["order_id"], tableName="orders", seed=11)
ts.fit(df).write().overwrite().save(os.path.join(out, "table_71ff780"))

retail = retail_spark(spark, seed=2, scale=0.1)
counted = with_child_counts(retail["customers"], retail["orders"], "customer_id", "customer_id")
est = CardinalityEstimator(parentTable="customers", childTable="orders", foreignKey="customer_id",
                           parentKey="customer_id", contextCols=["segment"], contextPrefix="p_", seed=5)
est.fit(counted).write().overwrite().save(os.path.join(out, "cardinality_71ff780"))

people = spark.createDataFrame(pd.DataFrame({
    "id": np.arange(n), "email": [f"p{i}@mail.example.org" for i in range(n)],
    "ssn": [f"{100 + i % 800:03d}-{10 + i % 89:02d}-{1000 + i:04d}" for i in range(n)],
    "score": rng.integers(0, 100, n)}))
san = PIISanitizer(key="fixture-secret-key-0123456789", strategies={"email": "hash", "ssn": "mask"},
                   engine="python", keyId="fixture")
san.fit(people).write().overwrite().save(os.path.join(out, "pii_sanitizer_71ff780"))

rs = RelationalSynthesizer(model="gaussian_copula", seed=3)
small = {k: retail[k] for k in ("customers", "orders")}
from synthohive_spark.metadata import Metadata
md = Metadata.detect(small)
rs.setMetadata(md)
rs.fit(small).save(os.path.join(out, "relational_71ff780"), overwrite=True)
print("done")

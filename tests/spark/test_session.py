"""get_or_create_session: the active session as it is, or a local one with our jar and Arrow."""
from __future__ import annotations

import logging
import os

from synthohive_spark.session import bundled_jar, get_or_create_session, jvm_available


def test_returns_the_active_session_without_changing_it(spark, caplog):
    before = spark.conf.get("spark.sql.shuffle.partitions")
    with caplog.at_level(logging.WARNING, logger="synthohive_spark.session"):
        same = get_or_create_session(conf={"spark.sql.shuffle.partitions": "123"})
    assert same is spark
    assert spark.conf.get("spark.sql.shuffle.partitions") == before
    assert "spark.sql.shuffle.partitions" in caplog.text  # says what it did not apply


def test_local_session_has_jar_and_arrow(spark):
    jar = bundled_jar()
    assert jar is not None and os.path.isfile(jar), "run `python jvm/build_jar.py` first"
    assert jar in spark.conf.get("spark.jars")
    assert jvm_available(spark)
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"

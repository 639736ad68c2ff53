"""get_or_create_session: the active session as it is, or a local one with our jar and Arrow."""
from __future__ import annotations

import glob
import logging
import os

import pyspark
import pytest

from synthohive_spark.session import (_connect_server_package, bundled_jar, get_or_create_session,
                                      jvm_available)


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


def test_connect_is_refused_beside_an_active_classic_session(spark):
    with pytest.raises(ValueError, match="classic Spark session is already active"):
        get_or_create_session(master="local[2]", connect=True)
    with pytest.raises(ValueError, match="needs a local master"):
        get_or_create_session(master="spark://host:7077", connect=True)


def test_connect_server_comes_from_pyspark_or_maven_for_the_installed_line():
    package = _connect_server_package()
    shipped = glob.glob(os.path.join(os.path.dirname(pyspark.__file__), "jars", "spark-connect_*.jar"))
    if pyspark.__version__.startswith("3."):  # the PyPI package of 3.5 has no Connect server
        assert not shipped
        assert package == f"org.apache.spark:spark-connect_2.12:{pyspark.__version__}"
    else:
        assert shipped and package is None

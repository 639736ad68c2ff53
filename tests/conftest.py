"""Shared fixtures: one local Spark session for every Spark test; Spark-free tests never start it."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYSPARK_PYTHON", __import__("sys").executable)


@pytest.fixture(scope="session")
def spark():
    from synthohive_spark.session import get_or_create_session

    session = get_or_create_session(app_name="synthohive-tests", master="local[2]",
                                    conf={"spark.sql.shuffle.partitions": "4",
                                          "spark.default.parallelism": "2",
                                          "spark.driver.memory": "3g"})
    yield session
    session.stop()

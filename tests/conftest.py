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


_ENVIRONMENT_SKIPS = ("not installed", "jar is not loaded", "jar is not built")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (SYNTHOHIVE_STRICT=1) a test skipped because the environment lacks something the
    CI script installs (chromium, the jar) fails instead of passing silently. The comparison with
    sdmetrics runs in its own environment, where a missing sdmetrics is an import error."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SYNTHOHIVE_STRICT") == "1" and report.skipped:
        reason = str(report.longrepr)
        if any(s in reason for s in _ENVIRONMENT_SKIPS):
            report.outcome = "failed"

"""Spark session helper: the active session, or a local one with the bundled jar."""
from __future__ import annotations

import glob
import logging
import os
import sys
from typing import Mapping

from synthohive_spark._spark import is_classic

logger = logging.getLogger("synthohive_spark.session")

_JAR_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jars")


def bundled_jar() -> str | None:
    """Path of the jar shipped in this package for the installed pyspark's Scala version, if built."""
    jars = sorted(glob.glob(os.path.join(_JAR_DIR, "synthohive-spark_*.jar")))
    if not jars:
        return None
    want = _scala_binary_version()
    for j in jars:
        if want and j.endswith(f"_{want}.jar"):
            return j
    return None


def _scala_binary_version() -> str | None:
    """Scala binary version (2.12/2.13) of the installed pyspark, read from its jars/ folder."""
    try:
        import pyspark
    except ImportError:  # pragma: no cover - pyspark is a hard dependency
        return None
    jars_dir = os.path.join(os.path.dirname(pyspark.__file__), "jars")
    for path in glob.glob(os.path.join(jars_dir, "scala-library-*.jar")):
        version = os.path.basename(path)[len("scala-library-"):-len(".jar")]
        return ".".join(version.split(".")[:2])
    return None


def _connect_server_package() -> str | None:
    """The Maven coordinate of the Spark Connect server for the installed pyspark, when its jars/
    folder lacks one (pyspark 3.5 from PyPI); None when the server ships with pyspark (4.x)."""
    import pyspark

    jars_dir = os.path.join(os.path.dirname(pyspark.__file__), "jars")
    if glob.glob(os.path.join(jars_dir, "spark-connect_*.jar")):
        return None
    scala = _scala_binary_version() or "2.12"
    version = pyspark.__version__.split("+")[0].split(".dev")[0]
    return f"org.apache.spark:spark-connect_{scala}:{version}"


def get_or_create_session(
    app_name: str = "synthohive-spark",
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
    log_level: str = "WARN",
    connect: bool = False,
):
    """Return the active SparkSession, or start a local one configured for synthohive-spark.

    An active session (classic or Spark Connect) is returned as it is: its configuration is never
    changed. If ``conf`` was given as well, a warning names the settings that were not applied.
    Otherwise a new local session starts with the bundled jar on the classpath, Arrow enabled and
    quiet logs. ``connect=True`` starts a local Spark Connect server on ``master`` and returns a
    Connect session to it (needs ``pip install "synthohive-spark[connect]"``); on Spark 3.5, whose
    PyPI package has no Connect server, the server's jar is fetched from Maven Central through
    ``spark.jars.packages`` on first use. ``log_level`` applies to classic sessions.
    """
    from pyspark.sql import SparkSession

    if connect:
        if not master.startswith("local"):
            raise ValueError(f"get_or_create_session(connect=True) starts a local Spark Connect "
                             f"server and needs a local master such as 'local[2]', got {master!r}; "
                             f"for a remote server use SparkSession.builder.remote('sc://host:port')")
        running = SparkSession.getActiveSession()
        if running is not None and is_classic(running):
            raise ValueError("get_or_create_session(connect=True): a classic Spark session is "
                             "already active in this process; stop it first (spark.stop()), or "
                             "call get_or_create_session() without connect=True to use it")

    active = SparkSession.getActiveSession()
    if active is not None:
        if conf:
            logger.warning(
                "An active Spark session exists; its configuration is kept and these settings "
                "were not applied: %s", ", ".join(sorted(conf)))
        return active

    settings: dict[str, str] = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "8",
    }
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Python workers of a local session use this interpreter (and so its packages), not
        # whatever `python3` is first on PATH. pyspark reads it from the environment.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    if connect:  # the local server runs the JVM stages' Python fallbacks: no jar needed
        builder = SparkSession.builder.remote(master).appName(app_name)
        list_key, ours = "spark.jars.packages", _connect_server_package()
    else:
        builder = SparkSession.builder.appName(app_name).master(master)
        list_key, ours = "spark.jars", bundled_jar()
        if ours is None:
            logger.info("The synthohive-spark jar is not built; JVM stages fall back to Python.")
    if ours is not None:
        settings[list_key] = ours
    for key, value in (conf or {}).items():
        if key == list_key and ours is not None:
            value = f"{ours},{value}"
        settings[key] = str(value)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not connect:
        spark.sparkContext.setLogLevel(log_level)
    return spark


def jvm_available(spark) -> bool:
    """True when ``spark`` is a classic session whose JVM has the synthohive-spark classes loaded."""
    jvm = getattr(getattr(spark, "sparkContext", None), "_jvm", None) if is_classic(spark) else None
    if jvm is None:
        return False
    try:
        jvm.java.lang.Class.forName(
            "com.synthohive.spark.HmacPseudonymizer", True,
            jvm.Thread.currentThread().getContextClassLoader())
        return True
    except Exception as exc:  # py4j raises Py4JJavaError for ClassNotFoundException
        logger.debug("synthohive-spark JVM classes unavailable: %s", exc)
        return False

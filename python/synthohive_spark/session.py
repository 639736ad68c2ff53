"""Spark session helper: the active session, or a local one with the bundled jar."""
from __future__ import annotations

import glob
import logging
import os
import re
import sys
import uuid
from typing import Mapping, Optional

from synthohive_spark._spark import is_classic
from synthohive_spark.errors import DeltaUnavailableError

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


#: Delta Lake's SQL extension and catalog: the two settings a Spark session needs besides its jars
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
#: The newest Spark line that any Delta Lake release supports: delta-spark 4.4 (October 2026)
#: declares pyspark <= 4.2.0 and Maven Central has no io.delta:delta-spark_4.3_2.13. Raise it when
#: a Delta release supports a newer Spark.
DELTA_NEWEST_SPARK = (4, 2)


def _version_tuple(version: str) -> tuple[int, ...]:
    """(4, 3, 0) of '4.3.0', '4.3.0.dev1' or '3.5.7+local': the leading numeric parts."""
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:
            break
    return tuple(parts)


def _satisfies(version: tuple[int, ...], spec: str) -> bool:
    """Whether ``version`` meets a requirement such as '<3.6.0,>=3.5.3' or '(>=4.0.1)'."""
    ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    for clause in spec.strip("() ").split(","):
        m = re.match(r"\s*(>=|<=|==|!=|>|<)\s*([0-9][0-9.]*)", clause)
        if m is None:
            continue
        bound = _version_tuple(m.group(2))
        width = max(len(version), len(bound))
        a, b = (v + (0,) * (width - len(v)) for v in (version, bound))
        if not ops[m.group(1)](a, b):
            return False
    return True


def _delta_spark_requirement() -> Optional[str]:
    """The pyspark requirement the installed delta-spark package declares ('<3.6.0,>=3.5.3')."""
    from importlib.metadata import requires

    for req in requires("delta-spark") or []:
        m = re.match(r"\s*pyspark(?![\w.-])\s*(\[[^]]*\])?\s*([^;]*)", req)
        if m and m.group(2).strip():
            return m.group(2).strip()
    return None


def delta_package(spark_version: Optional[str] = None, delta_version: Optional[str] = None,
                  scala: Optional[str] = None) -> str:
    """The Maven coordinate of Delta Lake's jar for a Spark line, e.g.
    ``io.delta:delta-spark_2.12:3.3.3``: the installed delta-spark's version (its Python package
    and its jar go together), named the way Delta names it (``delta-spark_<spark>_<scala>`` from
    Delta 4.1 on). Defaults: the installed pyspark, delta-spark and Scala. Raises
    :class:`DeltaUnavailableError` when no Delta release supports this Spark, delta-spark is not
    installed, or the installed one is built for another pyspark."""
    import pyspark

    spark_version = spark_version or pyspark.__version__
    spark_line = _version_tuple(spark_version)[:2]
    line = ".".join(map(str, spark_line))
    if spark_line > DELTA_NEWEST_SPARK:
        newest = ".".join(map(str, DELTA_NEWEST_SPARK))
        raise DeltaUnavailableError(
            f"no Delta Lake release supports Spark {line} yet (pyspark {spark_version}): the "
            f"newest, delta-spark 4.4, supports Spark up to {newest} (its jar for Spark 4.2 "
            f"fails on Spark 4.3 at the first write). Use Delta on a Spark line it supports "
            f"(synthohive-spark tests it on Spark 3.5 with delta-spark 3.3.3), or, at your own "
            f"risk, name Delta's jars yourself: get_or_create_session(delta=True, "
            f"conf={{'spark.jars.packages': 'io.delta:...'}}).")
    declared = None
    if delta_version is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            delta_version = version("delta-spark")
        except PackageNotFoundError:
            raise DeltaUnavailableError(
                f"Delta Lake: the delta-spark package is not installed; pip install "
                f"'synthohive-spark[delta]' (or the delta-spark release of Spark {line}: "
                f"3.3.x for Spark 3.5), then get_or_create_session(delta=True)") from None
        declared = _delta_spark_requirement()
    if declared and not _satisfies(_version_tuple(spark_version), declared):
        raise DeltaUnavailableError(
            f"Delta Lake: delta-spark {delta_version} is built for pyspark {declared}, this is "
            f"pyspark {spark_version}; install the delta-spark release of Spark {line} "
            f"(pip install 'synthohive-spark[delta]' with pyspark pinned)")
    dv = _version_tuple(delta_version)
    if dv[:2] == (4, 0) and spark_line != (4, 0):
        raise DeltaUnavailableError(f"Delta Lake: delta-spark {delta_version} is built for Spark "
                                    f"4.0, this is Spark {line}")
    scala = scala or _scala_binary_version() or ("2.12" if spark_line < (4, 0) else "2.13")
    artifact = f"delta-spark_{line}_{scala}" if dv[:2] >= (4, 1) else f"delta-spark_{scala}"
    return f"io.delta:{artifact}:{delta_version}"


def delta_help(spark_version: Optional[str] = None) -> str:
    """How to get Delta Lake into a session, and why it cannot be had here if it cannot."""
    try:
        package = delta_package(spark_version)
        problem = ""
    except DeltaUnavailableError as exc:
        package, problem = "io.delta:delta-spark_<scala>:<version>", f". Here: {exc}"
    return (f"Delta Lake needs its jars and two settings when the session starts: "
            f"spark.jars.packages={package}, spark.sql.extensions={DELTA_EXTENSION} and "
            f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}. Locally, pip install "
            f"'synthohive-spark[delta]' and start the session with "
            f"get_or_create_session(delta=True) (stop a running session first: these settings "
            f"cannot change while it runs); on a cluster, add them to its Spark configuration "
            f"(Databricks has Delta built in){problem}")


def delta_available(spark) -> bool:
    """Whether ``spark`` (classic or Connect) reads and writes Delta tables with Delta's SQL: the
    history of a path that does not exist is Delta's 'not a Delta table' there; without Delta the
    same text is Spark's ``DESCRIBE`` of a table named HISTORY, which does not exist either."""
    probe = f"/__synthohive_delta_probe_{uuid.uuid4().hex}"
    try:
        spark.sql(f"DESCRIBE HISTORY delta.`{probe}`").collect()
    except Exception as exc:  # AnalysisException / SparkConnectGrpcException
        text = str(exc)
        if "DELTA_" in text or "not a Delta table" in text:
            return True
        logger.debug("Delta Lake unavailable in this session: %s", text.splitlines()[0])
        return False
    return True


def get_or_create_session(
    app_name: str = "synthohive-spark",
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
    log_level: str = "WARN",
    connect: bool = False,
    delta: bool = False,
):
    """Return the active SparkSession, or start a local one configured for synthohive-spark.

    An active session (classic or Spark Connect) is returned as it is: its configuration is never
    changed. If ``conf`` was given as well, a warning names the settings that were not applied.
    Otherwise a new local session starts with the bundled jar on the classpath, Arrow enabled and
    quiet logs. ``connect=True`` starts a local Spark Connect server on ``master`` and returns a
    Connect session to it (needs ``pip install "synthohive-spark[connect]"``); on Spark 3.5, whose
    PyPI package has no Connect server, the server's jar is fetched from Maven Central through
    ``spark.jars.packages`` on first use. ``log_level`` applies to classic sessions.

    ``delta=True`` adds Delta Lake: its jar for this Spark and the installed delta-spark
    (:func:`delta_package`, fetched from Maven Central through ``spark.jars.packages`` into the
    local ivy cache on first use), Delta's SQL extension and its catalog as ``spark_catalog``. It
    raises :class:`~synthohive_spark.errors.DeltaUnavailableError`, saying how to add Delta, when
    delta-spark is missing or does not support this Spark, or when the active session lacks Delta.
    Jars named in ``conf['spark.jars.packages']`` as ``io.delta:...`` are used as they are. With
    ``connect=True`` the local Connect server gets them.
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
        if delta and not delta_available(active):
            raise DeltaUnavailableError("get_or_create_session(delta=True): the active Spark "
                                        "session has no Delta Lake. " + delta_help())
        return active
    delta_settings: dict[str, str] = {}
    if delta:
        given = str((conf or {}).get("spark.jars.packages", ""))
        package = None if "io.delta:" in given else delta_package()
        delta_settings = {"spark.sql.extensions": DELTA_EXTENSION,
                          "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
                          # Delta rebuilds a table's state in 50 tasks by default: as many as
                          # the local session's shuffles (below)
                          "spark.databricks.delta.snapshotPartitions": "8"}
        if package is not None:
            delta_settings["spark.jars.packages"] = package

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
    for key, value in delta_settings.items():
        settings[key] = f"{settings[key]},{value}" if key in settings else value
    lists = {list_key, "spark.jars.packages", "spark.sql.extensions"}  # comma lists: merged
    for key, value in (conf or {}).items():
        if key in settings and key in lists:
            known = settings[key].split(",")
            value = ",".join(known + [v for v in str(value).split(",") if v and v not in known])
        settings[key] = str(value)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        if not delta_settings:
            raise
        raise DeltaUnavailableError(
            f"get_or_create_session(delta=True): the session did not start with Delta Lake "
            f"({settings.get('spark.jars.packages')} comes from Maven Central through "
            f"spark.jars.packages into the local ivy cache: without network access put the jars "
            f"in spark.jars instead): {exc}") from exc
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

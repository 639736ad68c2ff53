"""Spark session helper: the active session, or a local one with the bundled jar."""
from __future__ import annotations

import glob
import logging
import os
import re
import sys
import uuid
import weakref
from typing import Mapping, Optional

from synthohive_spark._spark import is_classic, jvm_class
from synthohive_spark.errors import DeltaUnavailableError, HiveUnavailableError

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
    try:
        if _HAS_DELTA.get(spark):
            return True
    except TypeError:  # a session object that takes no weak reference: probe each time
        pass
    probe = f"/__synthohive_delta_probe_{uuid.uuid4().hex}"
    try:
        spark.sql(f"DESCRIBE HISTORY delta.`{probe}`").collect()
    except Exception as exc:  # AnalysisException / SparkConnectGrpcException
        text = str(exc)
        if "DELTA_" not in text and "not a Delta table" not in text:
            logger.debug("Delta Lake unavailable in this session: %s", text.splitlines()[0])
            return False
    try:
        _HAS_DELTA[spark] = True
    except TypeError:
        pass
    return True


#: Sessions found to have Delta Lake (its SQL extension is a static setting: a session that has
#: it keeps it), so that each write does not probe again (a failed query: 0.05-0.1 s)
_HAS_DELTA: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------ a Hive metastore
#: The class Spark instantiates for a session whose catalog is a Hive metastore
_HIVE_STATE_CLASS = "org.apache.spark.sql.hive.HiveSessionStateBuilder"


def _hive_settings(warehouse: Optional[str], conf: Mapping[str, str]) -> dict[str, str]:
    """The settings of a session whose catalog is a Hive metastore; with ``warehouse``, a local
    one kept in that folder: managed tables in it, the embedded Derby metastore in
    ``warehouse/metastore_db`` and Derby's home (its derby.log) the folder itself. Settings
    named in ``conf`` are left to ``conf``; JVM options are added to the ones ``conf`` gives."""
    settings = {"spark.sql.catalogImplementation": "hive"}
    if warehouse is None:
        return settings
    local = str(warehouse)[len("file:"):] if str(warehouse).startswith("file:") else str(warehouse)
    if not isinstance(warehouse, str) or not local.strip() or "://" in local or ";" in local:
        raise ValueError(f"get_or_create_session(warehouse=...): a local folder for the Hive "
                         f"warehouse and its embedded Derby metastore, got {warehouse!r}; for a "
                         f"remote metastore or warehouse leave warehouse out and configure them "
                         f"(hive-site.xml, or conf={{'spark.hadoop.hive.metastore.uris': ..., "
                         f"'spark.sql.warehouse.dir': ...}})")
    folder = os.path.abspath(local)
    settings.update({
        "spark.sql.warehouse.dir": folder,
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={os.path.join(folder, 'metastore_db')};create=true"})
    options = str(conf.get("spark.driver.extraJavaOptions", "")).strip()
    settings["spark.driver.extraJavaOptions"] = f"{options} -Dderby.system.home={folder}".strip()
    return settings


def _same_folder(a: str, b: str) -> bool:
    strip = (lambda p: os.path.realpath(p[len("file:"):] if p.startswith("file:") else p))
    return strip(a).rstrip("/") == strip(b).rstrip("/")


def _check_hive(spark, warehouse: Optional[str], started: bool) -> None:
    """Raise when ``spark``'s catalog is not the Hive metastore asked for: another catalog or
    warehouse in an active session (ValueError), or Hive's classes missing from the JVM
    (HiveUnavailableError; a session this call ``started`` is stopped first)."""
    jvm = getattr(getattr(spark, "sparkContext", None), "_jvm", None) if is_classic(spark) else None
    # a classic session lacking Hive's classes fails at its first use of spark.conf: read the
    # static settings from the SparkContext and look for the classes before anything else
    key = "spark.sql.catalogImplementation"
    kind = (spark.sparkContext.getConf().get(key, "in-memory") if jvm is not None
            else spark.conf.get(key, "in-memory"))
    if kind != "hive":
        if started:  # conf asked for another catalog
            spark.stop()
        raise ValueError(f"get_or_create_session(hive=True): the Spark session's catalog is "
                         f"{kind!r}, not a Hive metastore (set in conf, or an active session: a "
                         f"session's catalog cannot change while it runs; stop it first)")
    if jvm is not None and jvm_class(spark, _HIVE_STATE_CLASS) is None:
        if started:
            spark.stop()
        raise HiveUnavailableError(
            "get_or_create_session(hive=True): this Spark has no Hive support (the class "
            f"{_HIVE_STATE_CLASS} is not on its classpath: a Spark built without -Phive, or "
            "a SPARK_HOME without spark-hive_*.jar). The pyspark package from PyPI includes "
            "it; otherwise use a Spark distribution built with Hive") from None
    if warehouse is not None:
        have = spark.conf.get("spark.sql.warehouse.dir", "")
        if not _same_folder(have, warehouse):
            raise ValueError(f"get_or_create_session(warehouse={warehouse!r}): the active Spark "
                             f"session's warehouse is {have!r} and cannot change while it runs; "
                             f"stop it first (spark.stop())")


def get_or_create_session(
    app_name: str = "synthohive-spark",
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
    log_level: str = "WARN",
    connect: bool = False,
    delta: bool = False,
    hive: bool = False,
    warehouse: Optional[str] = None,
    jdbc: bool = False,
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

    ``hive=True`` makes the session's catalog a Hive metastore (``enableHiveSupport``): the
    databases and tables it creates outlive the application. Alone, it is the metastore the
    environment configures (hive-site.xml, e.g. a cluster's ``hive.metastore.uris``), else Spark's
    default: an embedded Derby metastore in the current directory. ``warehouse=DIR`` (with
    ``hive=True``) makes it a local metastore kept in the folder DIR: managed tables under DIR
    (``spark.sql.warehouse.dir``), the embedded Derby metastore in ``DIR/metastore_db`` and
    derby.log in DIR, so a later application started with the same ``warehouse`` sees the same
    tables (one application at a time: embedded Derby allows one). It combines with
    ``delta=True`` (Delta's catalog wraps the Hive one). Raises ``HiveUnavailableError`` when this Spark
    has no Hive classes, and ``ValueError`` when the active session's catalog is not Hive or its
    warehouse is another folder (neither can change while a session runs).

    ``jdbc=True`` adds the PostgreSQL JDBC driver (:func:`synthohive_spark.io.jdbc.jdbc_package`,
    through ``spark.jars.packages`` likewise) for :func:`synthohive_spark.io.read_jdbc_schema`
    and JDBC outputs, unless ``conf['spark.jars.packages']`` names ``org.postgresql:...``; an
    active classic session without the driver raises
    :class:`~synthohive_spark.errors.TableSourceError` saying how to add it.
    """
    from pyspark.sql import SparkSession

    if warehouse is not None and not hive:
        raise ValueError("get_or_create_session(warehouse=...) is the folder of a local Hive "
                         "metastore: pass hive=True with it")
    if hive and connect:
        raise ValueError("get_or_create_session(hive=True, connect=True) is not supported: start "
                         "the Spark Connect server with spark.sql.catalogImplementation=hive and "
                         "connect to it with SparkSession.builder.remote(...)")
    hive_settings = _hive_settings(warehouse, conf or {}) if hive else {}
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
        if hive:
            _check_hive(active, warehouse, started=False)
        if jdbc:
            from synthohive_spark.errors import TableSourceError
            from synthohive_spark.io.jdbc import jdbc_available, jdbc_help

            if not jdbc_available(active):
                raise TableSourceError("get_or_create_session(jdbc=True): the active Spark "
                                     "session lacks the JDBC driver: " + jdbc_help())
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
    added = dict(delta_settings)
    if jdbc and "org.postgresql:" not in str((conf or {}).get("spark.jars.packages", "")):
        from synthohive_spark.io.jdbc import jdbc_package

        added["spark.jars.packages"] = ",".join(
            p for p in (added.get("spark.jars.packages"), jdbc_package()) if p)
    for key, value in added.items():
        settings[key] = f"{settings[key]},{value}" if key in settings else value
    lists = {list_key, "spark.jars.packages", "spark.sql.extensions"}  # comma lists: merged
    for key, value in (conf or {}).items():
        if key in settings and key in lists:
            known = settings[key].split(",")
            value = ",".join(known + [v for v in str(value).split(",") if v and v not in known])
        settings[key] = str(value)
    if hive:  # the metastore settings conf names are conf's; JVM options were merged
        settings.update({key: value for key, value in hive_settings.items()
                         if key not in (conf or {}) or key == "spark.driver.extraJavaOptions"})
        if warehouse is not None:
            os.makedirs(hive_settings["spark.sql.warehouse.dir"], exist_ok=True)
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
        _ship_package_jars(spark)
    if hive:
        _check_hive(spark, warehouse, started=True)
    return spark


def _ship_package_jars(spark) -> None:
    """Give a cluster's executors the jars of ``spark.jars.packages`` (the JDBC driver, Delta).
    spark-submit resolves them onto the driver's class path (``spark.repl.local.jars``) and
    into ``spark.jars``, but a SparkContext started from Python takes ``spark.jars`` as the
    session's own configuration names it (here: the library's jar), so executors in JVMs of
    their own never got them. A local session's one JVM has them already."""
    sc = spark.sparkContext
    if sc.master.startswith("local") and not sc.master.startswith("local-cluster"):
        return
    jsc = sc._jsc.sc()
    shipped = {os.path.basename(j) for j in str(jsc.listJars().mkString(",")).split(",") if j}
    for jar in str(sc.getConf().get("spark.repl.local.jars", "") or "").split(","):
        if jar and os.path.basename(jar) not in shipped:
            jsc.addJar(jar)
            shipped.add(os.path.basename(jar))


def jvm_available(spark) -> bool:
    """True when ``spark`` is a classic session whose JVM has the synthohive-spark classes loaded."""
    return jvm_class(spark, "com.synthohive.spark.HmacPseudonymizer", initialize=True) is not None

"""The few things every Spark-facing room needs from a session: quoting, its kind, its file systems.

One place for them, so ``ml/``, ``io/``, ``validation/`` and the Spark profiler of ``metadata``
do not import each other's private helpers. pyspark is imported inside the functions: importing
this module (or the Spark-free core that refers to it) never loads Spark.
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["quote", "qcol", "is_classic", "hadoop_fs", "path_exists"]


def quote(name: str) -> str:
    """``name`` as a backtick-quoted Spark SQL identifier (dots, spaces and backticks kept literal)."""
    return "`" + str(name).replace("`", "``") + "`"


def qcol(name: str) -> Any:
    """``F.col`` of a column named exactly ``name`` (never parsed as ``struct.field``)."""
    from pyspark.sql import functions as F

    return F.col(quote(name))


def is_classic(spark: Any) -> bool:
    """True for a classic session (a JVM behind it); False for Spark Connect."""
    try:
        from pyspark.sql.utils import is_remote
        if is_remote():
            return False
    except ImportError:  # pragma: no cover
        pass
    return getattr(spark, "_jsparkSession", None) is not None


def jvm_class(spark: Any, name: str, initialize: bool = False) -> Any:
    """The class ``name`` as the driver JVM of a classic session loads it (through the thread's
    context class loader, where ``spark.jars`` and ``spark.jars.packages`` put their jars), or
    None when it is not on the classpath or ``spark`` has no JVM (Spark Connect)."""
    jvm = getattr(getattr(spark, "sparkContext", None), "_jvm", None) if is_classic(spark) else None
    if jvm is None:
        return None
    try:
        return jvm.java.lang.Class.forName(name, initialize,
                                           jvm.Thread.currentThread().getContextClassLoader())
    except Exception:  # py4j's Py4JJavaError for ClassNotFoundException
        return None


def hadoop_fs(spark: Any, path: str) -> Optional[tuple[Any, Any]]:
    """(Hadoop FileSystem, Path) for ``path`` through a classic session's JVM; None on Connect."""
    if not is_classic(spark):
        return None
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def path_exists(spark: Any, path: str) -> bool:
    """Whether ``path`` exists (classic: Hadoop FileSystem; Connect: a listing through a read)."""
    fs = hadoop_fs(spark, path)
    if fs is not None:
        return bool(fs[0].exists(fs[1]))
    try:
        found = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
                 .load(path).select("path").limit(1).collect())
        return bool(found)
    except Exception as exc:  # Spark Connect's AnalysisException: the path is not there
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc).lower():
            return False
        raise

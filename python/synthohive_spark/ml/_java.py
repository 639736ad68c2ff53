"""Glue between the Python wrappers and the synthohive-spark Scala stages (com.synthohive.spark).

pyspark maps a saved Java stage back to its Python wrapper by class name: ``org.apache.spark.X``
becomes the Python ``pyspark.X``, any other name is imported as it is. So that a saved
``com.synthohive.spark.HmacPseudonymizer`` (alone or inside a ``PipelineModel``) loads back as
``synthohive_spark.ml.pseudonymizer.HmacPseudonymizer``, :func:`register_jvm_package` puts a
module named ``com.synthohive.spark`` into ``sys.modules`` whose attributes are the wrappers.
It imports no pyspark and is cheap, so the package ``__init__`` may call it.
"""
from __future__ import annotations

import importlib
import logging
import sys
import types
from typing import Any

logger = logging.getLogger("synthohive_spark.ml._java")

#: The Scala package of the synthohive-spark stages.
JVM_PACKAGE = "com.synthohive.spark"

#: Scala class simple name -> Python module holding the wrapper of the same name.
JVM_STAGES: dict[str, str] = {
    "HmacPseudonymizer": "synthohive_spark.ml.pseudonymizer",
}


def _resolve(name: str) -> Any:
    module = JVM_STAGES.get(name)
    if module is None:
        raise AttributeError(
            f"{JVM_PACKAGE}.{name} has no Python wrapper in synthohive_spark; known stages: "
            f"{', '.join(sorted(JVM_STAGES))}")
    return getattr(importlib.import_module(module), name)


def register_jvm_package() -> types.ModuleType:
    """Makes ``com.synthohive.spark.<Stage>`` importable as the Python wrapper of that stage.

    Idempotent. The wrappers are imported on first access only.
    """
    existing = sys.modules.get(JVM_PACKAGE)
    if existing is not None and getattr(existing, "__synthohive_alias__", False):
        return existing
    if existing is not None:
        logger.warning("sys.modules already has a module %r that synthohive-spark did not "
                       "create; saved synthohive-spark stages may not load back into Python.",
                       JVM_PACKAGE)
        return existing
    alias = types.ModuleType(JVM_PACKAGE, "Python wrappers of the synthohive-spark Scala stages.")
    alias.__synthohive_alias__ = True  # type: ignore[attr-defined]
    alias.__getattr__ = _resolve  # type: ignore[attr-defined]
    alias.__all__ = sorted(JVM_STAGES)  # type: ignore[attr-defined]
    sys.modules[JVM_PACKAGE] = alias
    return alias


def java_reader(clazz: type) -> Any:
    """A ``JavaMLReader`` for wrapper ``clazz`` that loads its Scala class ``clazz._java_class``."""
    from pyspark.ml.util import JavaMLReader

    class _SynthoJavaMLReader(JavaMLReader):
        @classmethod
        def _java_loader_class(cls, c: type) -> str:
            return c._java_class  # type: ignore[attr-defined]

    return _SynthoJavaMLReader(clazz)  # type: ignore[arg-type]


def active_classic_session_with_jar() -> Any:
    """The active classic SparkSession when the synthohive-spark classes are loaded in it, else None."""
    from pyspark.sql import SparkSession

    from synthohive_spark.session import jvm_available

    spark = SparkSession.getActiveSession()
    if spark is not None and jvm_available(spark):
        return spark
    return None


def missing_jar_message(stage: str) -> str:
    """Why a JVM-only operation of ``stage`` cannot run, and how to fix it."""
    return (f"{stage} needs the synthohive-spark jar loaded in a classic Spark session for this "
            "operation; build it with `python jvm/build_jar.py` and start Spark with "
            "synthohive_spark.session.get_or_create_session() (or add the jar to spark.jars). "
            "Spark Connect sessions cannot load it.")

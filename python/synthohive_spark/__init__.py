"""synthohive-spark: learn a relational database with Spark ML and generate a private synthetic copy.

The public API is re-exported here; submodules load lazily so that Spark-free use (the model core,
metadata) never starts a JVM and importing the package stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Metadata": "synthohive_spark.metadata",
    "TableConfig": "synthohive_spark.metadata",
    "ColumnConfig": "synthohive_spark.metadata",
    "ForeignKey": "synthohive_spark.metadata",
    "CopyRule": "synthohive_spark.metadata",
    "DerivedRule": "synthohive_spark.metadata",
    "PrivacyConfig": "synthohive_spark.metadata",
    "MetadataError": "synthohive_spark.errors",
    "SynthohiveError": "synthohive_spark.errors",
    "ModelLoadError": "synthohive_spark.errors",
    "errors": "synthohive_spark.errors",
    "get_or_create_session": "synthohive_spark.session",
    "HmacPseudonymizer": "synthohive_spark.ml.pseudonymizer",
    "TableSynthesizer": "synthohive_spark.ml.table",
    "TableSynthesizerModel": "synthohive_spark.ml.table",
    "RelationalSynthesizer": "synthohive_spark.ml.relational",
    "RelationalSynthesizerModel": "synthohive_spark.ml.relational",
    "CardinalityEstimator": "synthohive_spark.ml.cardinality",
    "CardinalityModel": "synthohive_spark.ml.cardinality",
    "SchemaGraph": "synthohive_spark.relational",
    "PIISanitizer": "synthohive_spark.ml.pii",
    "PIISanitizerModel": "synthohive_spark.ml.pii",
    "evaluate": "synthohive_spark.validation",
    "ValidationReport": "synthohive_spark.validation",
    "QualityGateError": "synthohive_spark.errors",
    "create_model": "synthohive_spark.models",
    "register_model": "synthohive_spark.models",
    "examples": "synthohive_spark.examples",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def _register_jvm_stages() -> None:
    """Let pyspark map saved JVM stages (``com.synthohive.spark.*``) to their Python wrappers."""
    from synthohive_spark.ml._java import register_jvm_package
    register_jvm_package()


_register_jvm_stages()


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'synthohive_spark' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

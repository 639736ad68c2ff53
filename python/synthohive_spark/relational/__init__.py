"""synthohive_spark.relational: schema graph, child-count models and key assignment (no Spark)."""
from synthohive_spark.relational.cardinality import CardinalityError, ChildCountModel
from synthohive_spark.relational.graph import SchemaGraph, SchemaGraphError
from synthohive_spark.relational.keys import DegreeModel, rank_to_index

__all__ = ["CardinalityError", "ChildCountModel", "DegreeModel", "SchemaGraph",
           "SchemaGraphError", "rank_to_index"]

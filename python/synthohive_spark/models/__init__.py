"""synthohive_spark.models."""

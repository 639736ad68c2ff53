"""synthohive_spark.validation."""

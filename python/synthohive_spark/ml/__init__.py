"""synthohive_spark.ml."""

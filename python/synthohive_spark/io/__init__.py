"""synthohive_spark.io."""

"""synthohive_spark.privacy."""

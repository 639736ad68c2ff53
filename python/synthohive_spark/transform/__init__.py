"""synthohive_spark.transform."""

"""synthohive_spark.relational."""

"""synthohive_spark.transform: reversible, dtype-exact encodings of pandas DataFrames (no Spark)."""
from synthohive_spark.transform.columns import SDTYPES, ColumnCodec, TransformError, check_frame
from synthohive_spark.transform.data_transformer import DataTransformer, Span

__all__ = ["ColumnCodec", "DataTransformer", "SDTYPES", "Span", "TransformError", "check_frame"]
